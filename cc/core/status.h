// Minimal error type of the core: adapters turn it into
// tf::errors::InvalidArgument (TF kernels) or ValueError (pybind11 module).
#ifndef TF_MLM_CC_CORE_STATUS_H_
#define TF_MLM_CC_CORE_STATUS_H_

#include <string>
#include <utility>

namespace tf_mlm {

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Invalid(std::string message) {
    Status s;
    s.ok_ = false;
    s.message_ = std::move(message);
    return s;
  }
  bool ok() const { return ok_; }
  const std::string& message() const { return message_; }

 private:
  bool ok_ = true;
  std::string message_;
};

#define TF_MLM_RETURN_IF_ERROR(expr)       \
  do {                                     \
    ::tf_mlm::Status _tf_mlm_s = (expr);   \
    if (!_tf_mlm_s.ok()) return _tf_mlm_s; \
  } while (0)

}  // namespace tf_mlm

#endif  // TF_MLM_CC_CORE_STATUS_H_
