// Runtime CPU dispatch for the few hot loops that have a vector version.
//
// The core is compiled for the baseline of the target (what TensorFlow's own
// wheels assume). Functions marked TF_MLM_TARGET_AVX2 are compiled for AVX2
// as well and chosen at run time, so one build runs everywhere and is fast
// where the CPU allows. Every vector version computes exactly what its
// scalar version computes: results never depend on the CPU.
#ifndef TF_MLM_CC_CORE_CPU_H_
#define TF_MLM_CC_CORE_CPU_H_

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(TF_MLM_NO_AVX2)
#define TF_MLM_HAVE_AVX2_DISPATCH 1
#define TF_MLM_TARGET_AVX2 __attribute__((target("avx2")))
#include <immintrin.h>
#else
#define TF_MLM_HAVE_AVX2_DISPATCH 0
#define TF_MLM_TARGET_AVX2
#endif

namespace tf_mlm {

// True when the AVX2 versions may run (checked once per process).
inline bool CpuHasAvx2() {
#if TF_MLM_HAVE_AVX2_DISPATCH
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has;
#else
  return false;
#endif
}

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_CPU_H_
