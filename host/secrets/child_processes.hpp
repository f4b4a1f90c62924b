#pragma once
// Child processes started on a plugin's behalf with secrets in their environment (the
// `env` operation): the value goes from the vault into the child's environment and never
// through the plugin. Output read back by the plugin passes through the redactor, line by
// line, so a child that prints its environment yields markers. Each child leads its own
// process group, so kill reaches the whole tree.
//
// Thread-safe.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "secrets/handle_broker.hpp"
#include "secrets/redactor.hpp"

namespace keyhold::secrets {

class ChildProcesses {
 public:
  ChildProcesses(HandleBroker& broker, std::shared_ptr<const Redactor> redactor);
  ~ChildProcesses();  // kills and reaps every child still running

  // spec: {"argv":[...],"cwd":"...","env":{"K":"V"},"secret_env":{"VAR":"alias"}}.
  // The child gets PATH, HOME, LANG, TMPDIR and USER from the host, then env, then
  // secret_env. Returns the child's id; kInvalidArgument for a bad spec, kPermissionDenied
  // (KH_NOT_GRANTED) when an alias lacks the env grant, kIo when it cannot start; the
  // message says why. client: who the request serves, for per_user `oauth:` aliases (as
  // HandleBroker::reveal).
  Result<std::uint64_t> spawn(const std::string& instance, const std::string& request_id,
                              std::string_view spec_json, OAuthUser* client = nullptr);
  // Appends redacted output of stream 1 (stdout) or 2 (stderr) to *out: whole lines, or
  // the rest at end of stream (ok, possibly nothing yet). kNotFound at end of stream with
  // nothing left, or for an unknown id; kInvalidArgument for another stream.
  Status read(const std::string& instance, std::uint64_t id, int32_t stream, int32_t timeout_ms,
              std::string* out);
  // Sets *exit_status as from waitpid; kUnavailable while it runs past timeout_ms. Once a
  // wait has returned the status and both streams have reported their end, the id is
  // forgotten (its pipes are closed at end of stream already); later calls with it are
  // kNotFound.
  Status wait(const std::string& instance, std::uint64_t id, int32_t timeout_ms,
              int32_t* exit_status);
  // Signals the child's process group (ok once it is reaped); kNotFound for an unknown id.
  Status kill(const std::string& instance, std::uint64_t id, int32_t signal_number);
  // Kills (SIGKILL) and reaps every child of instance, and refuses it new ones from then on
  // (the instance is ending; set_wrapper opens the name again).
  void kill_all(const std::string& instance);
  // Starts every later child of instance through `wrapper` (an argv prefix, e.g. the
  // runner applying the instance's sandbox), after the env grants were checked against
  // the child's own argv.
  void set_wrapper(const std::string& instance, std::vector<std::string> wrapper);

 private:
  struct Child;
  std::shared_ptr<Child> find(const std::string& instance, std::uint64_t id);
  void forget_if_finished(std::uint64_t id, const std::shared_ptr<Child>& child);

  HandleBroker& broker_;
  std::shared_ptr<const Redactor> redactor_;
  std::mutex mutex_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, std::shared_ptr<Child>> children_;
  std::map<std::string, std::vector<std::string>> wrappers_;  // by instance
  std::map<std::string, std::size_t> starting_;               // spawns under way, by instance
  std::set<std::string> closed_;                              // instances past kill_all
};

}  // namespace keyhold::secrets
