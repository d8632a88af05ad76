/* PLACEHOLDER: replaced by the PASID allocator. */
#include "usva_pasid.h"
