#include <hdf5.h>

/* HDF5's identifiers for predefined types and property classes are macros that call H5open()
   and read a global; Swift does not import such macros, so these return them. */
static inline hid_t lstm_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t lstm_h5e_default(void) { return H5E_DEFAULT; }
static inline hid_t lstm_h5s_all(void) { return H5S_ALL; }
static inline hid_t lstm_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t lstm_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t lstm_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t lstm_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t lstm_h5t_c_s1(void) { return H5T_C_S1; }
static inline size_t lstm_h5t_variable(void) { return H5T_VARIABLE; }
static inline unsigned lstm_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned lstm_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline hid_t lstm_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t lstm_h5p_group_create(void) { return H5P_GROUP_CREATE; }
