#pragma once
// A mutex whose users clang's -Wthread-safety checks (the strict warnings turn it on under
// clang): members marked KH_GUARDED_BY(mutex_) may be touched only with the lock held,
// functions marked KH_REQUIRES(mutex_) only be called with it. As leveldb's port::Mutex
// and thread_annotations.h. Other compilers see plain std::mutex code.
#include <mutex>

#if defined(__clang__)
#define KH_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define KH_THREAD_ANNOTATION(x)
#endif

#define KH_CAPABILITY(x) KH_THREAD_ANNOTATION(capability(x))
#define KH_SCOPED_CAPABILITY KH_THREAD_ANNOTATION(scoped_lockable)
#define KH_GUARDED_BY(x) KH_THREAD_ANNOTATION(guarded_by(x))
#define KH_ACQUIRED_AFTER(...) KH_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define KH_REQUIRES(...) KH_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define KH_EXCLUDES(...) KH_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define KH_ACQUIRE(...) KH_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define KH_RELEASE(...) KH_THREAD_ANNOTATION(release_capability(__VA_ARGS__))

namespace keyhold {

class KH_CAPABILITY("mutex") Mutex {
 public:
  void lock() KH_ACQUIRE() { mutex_.lock(); }
  void unlock() KH_RELEASE() { mutex_.unlock(); }

 private:
  std::mutex mutex_;
};

// Holds a Mutex for its scope (std::lock_guard, visible to the analysis).
class KH_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) KH_ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~MutexLock() KH_RELEASE() { mutex_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mutex_;
};

}  // namespace keyhold
