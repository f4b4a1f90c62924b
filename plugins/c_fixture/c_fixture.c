/* c_fixture: a keyhold plugin in plain C99, using nothing but keyhold/plugin.h.
 * Tool "params" returns, as text, the params JSON the host forwarded. */
#include <keyhold/plugin.h>
#include <string.h>

static const char kCatalog[] =
    "{\"tools\":[{\"name\":\"params\",\"description\":\"Returns the forwarded params as text\","
    "\"inputSchema\":{\"type\":\"object\"}}]}";

static void put(kh_sink* sink, const char* data, size_t size) {
  if (sink != NULL && sink->append != NULL) sink->append(sink->host_data, data, size);
}

static void put_cstr(kh_sink* sink, const char* text) { put(sink, text, strlen(text)); }

/* Appends `s` as the contents of a JSON string (quotes excluded). */
static void put_escaped(kh_sink* sink, kh_str s) {
  static const char hex[] = "0123456789abcdef";
  size_t i;
  for (i = 0; i < s.size; ++i) {
    unsigned char c = (unsigned char)s.data[i];
    if (c == '"' || c == '\\') {
      char pair[2];
      pair[0] = '\\';
      pair[1] = (char)c;
      put(sink, pair, 2);
    } else if (c < 0x20) {
      char esc[6] = {'\\', 'u', '0', '0', 0, 0};
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      put(sink, esc, 6);
    } else {
      put(sink, (const char*)&s.data[i], 1);
    }
  }
}

static kh_status fixture_create(kh_host* host, const kh_host_api* api, kh_str instance_name,
                                kh_str options_json, void** out_instance, kh_sink* error) {
  static int marker;
  (void)host;
  /* The fixture needs nothing past 1.0; a plugin using a later field checks it this way. */
  if (!KH_HAS_FIELD(kh_host_api, api, process_kill)) return KH_UNSUPPORTED;
  (void)instance_name;
  (void)options_json;
  (void)error;
  *out_instance = &marker;
  return KH_OK;
}

static void fixture_destroy(void* instance) { (void)instance; }

static kh_status fixture_describe(void* instance, kh_sink* out) {
  (void)instance;
  put(out, kCatalog, sizeof kCatalog - 1);
  return KH_OK;
}

static kh_status fixture_call(void* instance, const kh_call_ctx* ctx, kh_str method, kh_str params,
                              kh_sink* out) {
  static const char kToolsCall[] = "tools/call";
  (void)instance;
  (void)ctx;
  if (method.size != sizeof kToolsCall - 1 || memcmp(method.data, kToolsCall, method.size) != 0) {
    put_cstr(out, "only tools/call is offered");
    return KH_UNSUPPORTED;
  }
  put_cstr(out, "{\"content\":[{\"type\":\"text\",\"text\":\"");
  put_escaped(out, params);
  put_cstr(out, "\"}]}");
  return KH_OK;
}

static const kh_plugin kDefinition = {
    sizeof(kh_plugin),
    KH_ABI_MAJOR,
    KH_ABI_MINOR,
    "c_fixture",
    "1.0.0",
    "A plugin written in C99",
    NULL,
    0,
    fixture_create,
    fixture_destroy,
    fixture_describe,
    fixture_call,
};

KH_EXPORT const kh_plugin* keyhold_plugin_entry(void) { return &kDefinition; }
