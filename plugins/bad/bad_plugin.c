/* Broken C plugins, one flaw per build (see CMakeLists.txt). */
#include <keyhold/plugin.h>
#include <string.h>

static int32_t bad_create(kh_host* host, const kh_host_api* api, kh_str name, kh_str options,
                          void** out, kh_sink* error) {
  (void)host;
  (void)api;
  (void)name;
  (void)options;
#ifdef BAD_CREATE_FAILS
  {
    static const char why[] = "cannot reach the database at db.invalid:5432";
    error->append(error->host_data, why, sizeof why - 1);
    *out = NULL;
    return KH_ERROR;
  }
#else
  static int marker;
  (void)error;
  *out = &marker;
  return KH_OK;
#endif
}
static void bad_destroy(void* instance) { (void)instance; }
static int32_t bad_describe(void* instance, kh_sink* out) {
  static const char catalog[] = "{\"tools\":[]}";
  (void)instance;
  out->append(out->host_data, catalog, sizeof catalog - 1);
  return KH_OK;
}
static int32_t bad_call(void* instance, const kh_call_ctx* ctx, kh_str method, kh_str params,
                        kh_sink* out) {
  (void)instance;
  (void)ctx;
  (void)method;
  (void)params;
  (void)out;
  return KH_UNSUPPORTED;
}

static const kh_plugin kDefinition = {
    sizeof(kh_plugin),
#ifdef BAD_ABI_MAJOR
    KH_ABI_MAJOR + 98,
#else
    KH_ABI_MAJOR,
#endif
#ifdef BAD_ABI_MINOR
    KH_ABI_MINOR + 99,
#else
    KH_ABI_MINOR,
#endif
    "bad",
    "0.0.0",
    "a deliberately broken plugin",
    NULL,
    0,
    bad_create,
    bad_destroy,
    bad_describe,
    bad_call,
};

#ifdef BAD_NO_ENTRY
KH_EXPORT const kh_plugin* some_other_symbol(void) { return &kDefinition; }
#else
KH_EXPORT const kh_plugin* keyhold_plugin_entry(void) { return &kDefinition; }
#endif
