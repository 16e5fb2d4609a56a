// pybind11 module over the framework-free core (no TensorFlow).
//
// A thin adapter, like the TF kernels in cc/tf: it checks every argument it
// owns (a ValueError or TypeError naming it, never a crash; the options are
// the core's to validate), allocates NumPy outputs, and calls cc/core with
// the GIL released. No algorithm lives here.
//
// This file defines the module; masking.cc, collation.cc, padded.cc and t5.cc bind its
// functions, arrays.h converts their arguments.
#include <pybind11/pybind11.h>

#include "cc/py/bindings.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "tf_mlm's C++ masking core for NumPy data (no TensorFlow).";
  tf_mlm::BindMasking(m);
  tf_mlm::BindCollation(m);
  tf_mlm::BindPadded(m);
  tf_mlm::BindT5(m);
}
