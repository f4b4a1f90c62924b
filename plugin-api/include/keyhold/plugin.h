/*
 * keyhold/plugin.h - the C ABI between the keyhold host and connector plugins.
 *
 * This header is the whole contract. It is pure C (C99 and C++), depends only on
 * <stddef.h> and <stdint.h>, and carries no C++ type, exception or allocator across
 * the line.
 *
 * Rules:
 *  - Versioning: a plugin states the ABI it was built against (KH_ABI_MAJOR/MINOR).
 *    The host loads it only when the majors are equal and host minor >= plugin minor.
 *  - Tables (kh_plugin, kh_host_api) begin with their struct size and only ever grow at
 *    the end; a reader never touches a field beyond the size the writer declared. Each
 *    field states the ABI version it arrived in ("since 1.0"); a plugin built against a
 *    newer minor than its host checks KH_HAS_FIELD before using a later one.
 *  - Strings cross as kh_str (pointer + length, UTF-8), borrowed for the duration of the
 *    call that passed them. Copy what you keep.
 *  - Results leave through kh_sink, which the host owns: the plugin appends bytes, the
 *    host frees. Nobody frees memory allocated on the other side.
 *  - Every host service is "bytes in, bytes out" so a plugin can later run in another
 *    process behind a proxy without recompiling.
 *  - The plugin exports exactly one symbol, KH_ENTRY_SYMBOL, returning a pointer to a
 *    static kh_plugin that stays valid while the library is loaded.
 *  - Threading: create and destroy are serialized by the host. call() may run
 *    concurrently on different call contexts of one instance.
 */
#ifndef KEYHOLD_PLUGIN_H
#define KEYHOLD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KH_ABI_MAJOR 1
#define KH_ABI_MINOR 0

/* The one exported symbol: `const kh_plugin* keyhold_plugin_entry(void);` */
#define KH_ENTRY_SYMBOL "keyhold_plugin_entry"

#if defined(_WIN32)
#define KH_EXPORT __declspec(dllexport)
#else
#define KH_EXPORT __attribute__((visibility("default")))
#endif

/* Status codes returned across the ABI, as kh_status (a named int32_t: no ABI change from
 * the int32_t of 1.0). Values are stable; new ones are appended. */
typedef int32_t kh_status;
#define KH_OK 0
#define KH_ERROR 1            /* failure; a UTF-8 message is in the error/result sink */
#define KH_INVALID_ARGUMENT 2 /* bad parameters (unknown tool, bad arguments, bad uri) */
#define KH_NOT_FOUND 3        /* no such resource / prompt / process */
#define KH_NOT_GRANTED 4      /* a secret operation the administrator did not grant */
#define KH_CANCELLED 5        /* the request was cancelled by the client */
#define KH_UNSUPPORTED 6      /* the method or service is not offered */
#define KH_UNAVAILABLE 7      /* the client cannot answer (e.g. no sampling capability) */

/* Log levels, as in MCP (RFC 5424 severities, lowest first). */
#define KH_LOG_DEBUG 0
#define KH_LOG_INFO 1
#define KH_LOG_NOTICE 2
#define KH_LOG_WARNING 3
#define KH_LOG_ERROR 4
#define KH_LOG_CRITICAL 5
#define KH_LOG_ALERT 6
#define KH_LOG_EMERGENCY 7

/* What a list_changed notification is about. */
#define KH_LIST_TOOLS 1
#define KH_LIST_RESOURCES 2
#define KH_LIST_PROMPTS 3

/* Operations a plugin may want on a secret (bit set). */
#define KH_SECRET_OP_REVEAL 1u
#define KH_SECRET_OP_SIGN 2u
#define KH_SECRET_OP_ENV 4u

/* A borrowed UTF-8 string: valid only during the call that passed it. */
typedef struct kh_str {
  const char* data;
  size_t size;
} kh_str;

/* A host-owned output buffer. The plugin appends bytes; the host owns and frees them. */
typedef struct kh_sink {
  void* host_data;
  void (*append)(void* host_data, const char* data, size_t size);
} kh_sink;

/* Opaque host objects. kh_host is one plugin instance's view of the host and is valid
 * from create until destroy returns. kh_call_ctx is one request in flight and is valid
 * until the call() that received it returns. */
typedef struct kh_host kh_host;
typedef struct kh_call_ctx kh_call_ctx;

/* An unguessable reference to one granted secret of one instance. */
typedef struct kh_secret_handle {
  uint64_t hi;
  uint64_t lo;
} kh_secret_handle;

/* Called by reveal with the value in a guarded buffer; the buffer is zeroed when the
 * callback returns, so copy nothing you do not wipe yourself. */
typedef void (*kh_reveal_fn)(void* user, const unsigned char* value, size_t size);

/* True when the table (a kh_host_api* or kh_plugin* of the given type) is large enough,
 * as its writer declared, to hold field: a host of an older minor lacks the fields
 * appended after it. Example: KH_HAS_FIELD(kh_host_api, api, process_kill). */
#define KH_HAS_FIELD(type, table, field) \
  ((table)->struct_size >= offsetof(type, field) + sizeof(((const type*)0)->field))

/* Services the host offers a plugin instance. ctx may be NULL where noted. Every field
 * below arrived in ABI 1.0; fields appended later say "since 1.N". */
typedef struct kh_host_api {
  uint32_t struct_size;
  uint16_t abi_major;
  uint16_t abi_minor;

  /* Log a message. With a ctx it reaches the client as notifications/message (subject
   * to logging/setLevel); always it reaches the host's stderr log. Thread-safe. */
  void (*log)(kh_host* host, const kh_call_ctx* ctx, int32_t level, kh_str message);

  /* Report progress of the request ctx. total < 0 means unknown. Ignored when the
   * client asked for no progress; decreasing values are dropped. */
  void (*progress)(kh_host* host, const kh_call_ctx* ctx, double progress, double total,
                   kh_str message);

  /* Non-zero once the client cancelled ctx (or the host is shutting down). */
  int32_t (*is_cancelled)(kh_host* host, const kh_call_ctx* ctx);

  /* Tell clients that this instance's tools/resources/prompts changed (KH_LIST_*).
   * The host re-reads describe() before notifying. */
  void (*notify_list_changed)(kh_host* host, int32_t what);

  /* Tell subscribed clients that the resource `uri` changed. */
  void (*notify_resource_updated)(kh_host* host, kh_str uri);

  /* Send a request to the client (e.g. "sampling/createMessage", "elicitation/create")
   * on behalf of ctx and wait for its answer. On KH_OK the result object (JSON) is in
   * result; on KH_ERROR the client's error object (JSON); KH_UNAVAILABLE when the
   * client did not declare the capability; KH_CANCELLED when ctx was cancelled. */
  kh_status (*client_request)(kh_host* host, const kh_call_ctx* ctx, kh_str method,
                              kh_str params_json, kh_sink* result);

  /* Secret handles. acquire maps an alias the plugin declared to a handle bound to
   * (this instance, the secret, the granted operations). Every use re-checks the grant.
   * All return KH_NOT_GRANTED when the administrator granted nothing. */
  kh_status (*secret_acquire)(kh_host* host, const kh_call_ctx* ctx, kh_str alias,
                              kh_secret_handle* out_handle);
  kh_status (*secret_release)(kh_host* host, kh_secret_handle handle);
  kh_status (*secret_reveal)(kh_host* host, const kh_call_ctx* ctx, kh_secret_handle handle,
                             kh_reveal_fn use, void* user);
  /* algorithm: "hmac-sha256" (data = message) or "aws4-signing-key" (data = JSON
   * {"date":"YYYYMMDD","region":"...","service":"..."}); the MAC or key goes to out. */
  kh_status (*secret_sign)(kh_host* host, const kh_call_ctx* ctx, kh_secret_handle handle,
                           kh_str algorithm, kh_str data, kh_sink* out);

  /* Child processes with secrets in their environment. spec_json:
   * {"argv":[...],"cwd":"...","env":{"K":"V"},"secret_env":{"VAR":"alias"}}.
   * The value never enters the plugin. out_process identifies the child. */
  kh_status (*process_spawn)(kh_host* host, const kh_call_ctx* ctx, kh_str spec_json,
                             uint64_t* out_process, kh_sink* error);
  /* Read what the child wrote on stream 1 (stdout) or 2 (stderr), waiting at most
   * timeout_ms; appends nothing at end of stream and returns KH_NOT_FOUND. */
  kh_status (*process_read)(kh_host* host, uint64_t process, int32_t stream, int32_t timeout_ms,
                            kh_sink* out);
  /* Wait at most timeout_ms (-1 = forever) for exit; *exit_status as from waitpid.
   * Once a wait has returned the status and both streams have returned KH_NOT_FOUND, the
   * host forgets the process: further calls with it return KH_NOT_FOUND. */
  kh_status (*process_wait)(kh_host* host, uint64_t process, int32_t timeout_ms,
                            int32_t* exit_status);
  /* Signal the child's whole process group. Once a wait has reaped the child this does
   * nothing (the group id may be reused), so kill first when members may outlive it. */
  kh_status (*process_kill)(kh_host* host, uint64_t process, int32_t signal_number);
} kh_host_api;

/* A secret the plugin would like, by alias; the administrator maps aliases to secrets. */
typedef struct kh_secret_decl {
  const char* alias;
  const char* description;
  uint32_t operations; /* KH_SECRET_OP_* */
} kh_secret_decl;

/* The static definition a plugin exports. */
typedef struct kh_plugin {
  uint32_t struct_size; /* sizeof(kh_plugin) as the plugin was compiled */
  uint16_t abi_major;
  uint16_t abi_minor;
  const char* name;
  const char* version;
  const char* description;
  const kh_secret_decl* secrets;
  uint32_t secret_count;

  /* Create one instance. options_json is the instance's [options] table as JSON.
   * On failure return non-KH_OK and append a message to error. */
  kh_status (*create)(kh_host* host, const kh_host_api* api, kh_str instance_name,
                      kh_str options_json, void** out_instance, kh_sink* error);

  /* Destroy an instance; no call is in flight. */
  void (*destroy)(void* instance);

  /* Append the catalog as JSON: {"tools":[...],"resources":[...],
   * "resourceTemplates":[...],"prompts":[...]} with MCP field names, unprefixed. */
  kh_status (*describe)(void* instance, kh_sink* catalog_json);

  /* Serve one request. method is one of "tools/call", "resources/read",
   * "resources/subscribe", "resources/unsubscribe", "prompts/get",
   * "completion/complete"; params_json is the MCP params object (names unprefixed).
   * On KH_OK, result holds the MCP result object as JSON. Otherwise result holds a
   * UTF-8 message. A failing tool is KH_OK with "isError": true. */
  kh_status (*call)(void* instance, const kh_call_ctx* ctx, kh_str method, kh_str params_json,
                    kh_sink* result);
} kh_plugin;

typedef const kh_plugin* (*kh_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* KEYHOLD_PLUGIN_H */
