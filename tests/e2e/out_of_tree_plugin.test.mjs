// Acceptance 3: `cmake --install` a keyhold build into a temporary prefix, build a plugin
// out of tree against it with find_package(keyhold) + keyhold_add_plugin, and serve that
// plugin with the installed keyhold through the official SDK client.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { RawServer } from './raw_server.mjs';
import { BUILD_DIR, connectSdk, instanceToml, makeSandbox, run, sleep, tomlString } from './helpers.mjs';

const PLUGIN_CMAKE = `cmake_minimum_required(VERSION 3.20)
project(shout_plugin LANGUAGES C CXX)
find_package(keyhold 0.1 REQUIRED)

# C++ plugin through the package's helper.
keyhold_add_plugin(shout shout.cpp)

# Pure C plugin against the C ABI target only, compiled as C99.
add_library(cplain MODULE cplain.c)
target_link_libraries(cplain PRIVATE keyhold::plugin_api)
set_target_properties(cplain PROPERTIES PREFIX "" C_STANDARD 99 C_STANDARD_REQUIRED ON
  C_EXTENSIONS OFF C_VISIBILITY_PRESET hidden)

file(WRITE \${CMAKE_BINARY_DIR}/keyhold_plugin_dir.txt "\${KEYHOLD_PLUGIN_DIR}")
file(WRITE \${CMAKE_BINARY_DIR}/keyhold_version.txt "\${keyhold_VERSION}")
`;

const SHOUT_CPP = `// An out-of-tree keyhold plugin: one tool that upper-cases its text.
#include <keyhold/plugin.hpp>
#include <keyhold/sdk/args.hpp>  // the installed SDK helpers reach out-of-tree plugins

#include <cctype>
#include <cstdio>

namespace {
class ShoutPlugin : public keyhold::Plugin {
 public:
  ShoutPlugin(keyhold::Host host, std::string_view instance, const keyhold::json& options)
      : keyhold::Plugin(host), instance_(instance) {
    suffix_ = options.value("suffix", std::string("!"));
    std::puts("stray stdout line from the shout constructor");  // must not reach the client
    std::fflush(stdout);
  }
  keyhold::json describe() override {
    return {{"tools",
             keyhold::json::array(
                 {{{"name", "shout"},
                   {"description", "Upper-cases its text"},
                   {"inputSchema",
                    {{"type", "object"},
                     {"properties", {{"text", {{"type", "string"}}}}},
                     {"required", {"text"}}}}}})}};
  }
  keyhold::json call_tool(keyhold::Context& ctx, std::string_view name,
                          const keyhold::json& args) override {
    if (name != "shout") throw keyhold::InvalidArgument("unknown tool");
    std::string text = keyhold::sdk::string_arg(args, "text", true);
    for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::printf("stray stdout from shout: %s\\n", text.c_str());
    std::fflush(stdout);
    ctx.log(KH_LOG_INFO, "shouting for " + instance_);
    return keyhold::text_result(text + suffix_);
  }

 private:
  std::string instance_;
  std::string suffix_;
};
}  // namespace

KEYHOLD_PLUGIN(ShoutPlugin, "shout", "0.0.1", "Shouts (out-of-tree test plugin)")
`;

const CPLAIN_C = `/* An out-of-tree plugin in C99 against keyhold/plugin.h only. */
#include <keyhold/plugin.h>
#include <string.h>

static const char kCatalog[] =
    "{\\"tools\\":[{\\"name\\":\\"hello\\",\\"inputSchema\\":{\\"type\\":\\"object\\"}}]}";
static const char kResult[] = "{\\"content\\":[{\\"type\\":\\"text\\",\\"text\\":\\"hello from C\\"}]}";

static int32_t c_create(kh_host* host, const kh_host_api* api, kh_str name, kh_str options,
                        void** out, kh_sink* error) {
  static int marker;
  (void)host; (void)api; (void)name; (void)options; (void)error;
  *out = &marker;
  return KH_OK;
}
static void c_destroy(void* instance) { (void)instance; }
static int32_t c_describe(void* instance, kh_sink* out) {
  (void)instance;
  out->append(out->host_data, kCatalog, sizeof kCatalog - 1);
  return KH_OK;
}
static int32_t c_call(void* instance, const kh_call_ctx* ctx, kh_str method, kh_str params,
                      kh_sink* out) {
  (void)instance; (void)ctx; (void)params;
  if (method.size != 10 || memcmp(method.data, "tools/call", 10) != 0) return KH_UNSUPPORTED;
  out->append(out->host_data, kResult, sizeof kResult - 1);
  return KH_OK;
}
static const kh_plugin kDefinition = {
    sizeof(kh_plugin), KH_ABI_MAJOR, KH_ABI_MINOR, "cplain", "0.0.1", "C99 out-of-tree plugin",
    NULL, 0, c_create, c_destroy, c_describe, c_call,
};
KH_EXPORT const kh_plugin* keyhold_plugin_entry(void) { return &kDefinition; }
`;

async function runOk(command, args, opts) {
  const r = await run(command, args, { timeoutMs: 280_000, ...opts });
  assert.equal(r.code, 0, `${command} ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

describe('out-of-tree plugin against an installed keyhold', () => {
  let sandbox;
  let prefix;
  let pluginBuild;
  let installedBin;

  before(async () => {
    sandbox = makeSandbox('keyhold-oot-');
    prefix = path.join(sandbox.dir, 'prefix');
    // The build dir may be mid-rebuild: retry the install a few times.
    let last;
    for (let attempt = 0; attempt < 6; ++attempt) {
      last = await run('cmake', ['--install', BUILD_DIR, '--prefix', prefix], { env: sandbox.env, timeoutMs: 120_000 });
      if (last.code === 0) break;
      await sleep(10_000);
    }
    assert.equal(last.code, 0, `cmake --install failed:\n${last.stdout}\n${last.stderr}`);
    installedBin = path.join(prefix, 'bin', 'keyhold');

    const src = path.join(sandbox.dir, 'src');
    sandbox.file('src/CMakeLists.txt', PLUGIN_CMAKE);
    sandbox.file('src/shout.cpp', SHOUT_CPP);
    sandbox.file('src/cplain.c', CPLAIN_C);
    pluginBuild = path.join(sandbox.dir, 'plugin-build');
    await runOk('cmake', ['-S', src, '-B', pluginBuild, `-DCMAKE_PREFIX_PATH=${prefix}`, '-DCMAKE_BUILD_TYPE=Release'], {
      env: sandbox.env,
    });
    await runOk('cmake', ['--build', pluginBuild, '-j2'], { env: sandbox.env });
  });

  after(() => sandbox?.cleanup());

  test('the install tree holds keyhold, the plugins, the headers and the package config', () => {
    for (const f of [
      'bin/keyhold',
      'bin/keyhold-runner',
      'lib/keyhold/plugins/echo.so',
      'include/keyhold/plugin.h',
      'include/keyhold/plugin.hpp',
      'include/keyhold/sdk/args.hpp',
      'include/keyhold/sdk/duration.hpp',
      'lib/cmake/keyhold/keyholdConfig.cmake',
      'lib/cmake/keyhold/keyholdConfigVersion.cmake',
      'lib/cmake/keyhold/keyholdTargets.cmake',
      'lib/cmake/keyhold/KeyholdPlugin.cmake',
    ])
      assert.ok(existsSync(path.join(prefix, f)), `${f} not installed`);
    // The deliberately broken fixtures stay out of the install.
    // Neither are the test fixtures (snoop and escape are hostile on purpose).
    for (const f of ['lib/keyhold/plugins/bad_no_entry.so', 'lib/keyhold/plugins/collide_echo.so',
      'lib/keyhold/plugins/snoop.so', 'lib/keyhold/plugins/escape.so', 'lib/keyhold/plugins/c_fixture.so',
      'lib/keyhold/plugins/conformance.so'])
      assert.ok(!existsSync(path.join(prefix, f)), `${f} installed`);
  });

  test('find_package(keyhold) provides the version', () => {
    assert.equal(readFileSync(path.join(pluginBuild, 'keyhold_version.txt'), 'utf8'), '0.1.0');
  });

  test(
    'find_package(keyhold) provides KEYHOLD_PLUGIN_DIR, the installed plugin folder',
        () => {
      assert.equal(
        readFileSync(path.join(pluginBuild, 'keyhold_plugin_dir.txt'), 'utf8'),
        path.join(prefix, 'lib', 'keyhold', 'plugins'),
      );
    },
  );

  test('the built plugins export only the entry symbol', async () => {
    for (const lib of ['shout.so', 'cplain.so']) {
      const r = await runOk('nm', ['-D', '--defined-only', path.join(pluginBuild, lib)], { env: sandbox.env });
      const symbols = r.stdout
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .filter((p) => p.length === 3 && p[1] !== 'A') // 'A': version nodes, not symbols
        .map((p) => p[2]);
      assert.deepEqual(symbols, ['keyhold_plugin_entry'], `${lib}: ${symbols}`);
    }
  });

  test('keyhold plugins inspect shows the out-of-tree plugin', async () => {
    const r = await runOk(installedBin, ['plugins', 'inspect', path.join(pluginBuild, 'shout.so')], { env: sandbox.env });
    assert.match(r.stdout, /^shout 0\.0\.1/m);
    assert.match(r.stdout, /shout - Upper-cases its text/);
  });

  test('the installed keyhold serves the out-of-tree plugins next to the installed echo', async () => {
    const config = sandbox.writeConfig(
      `[server]\nplugin_dirs = [${tomlString(pluginBuild)}]\n\n` +
        instanceToml('loud', 'shout', { options: { suffix: '!!' } }) + // found by name in plugin_dirs
        instanceToml('plain', path.join(pluginBuild, 'cplain.so')) + // by path
        instanceToml('echo', 'echo'), // found in <prefix>/lib/keyhold/plugins
      'oot.toml',
    );
    const { client, stderr, stderrEnded } = await connectSdk(sandbox, config, [], {}, installedBin);
    try {
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), ['echo_add', 'echo_echo', 'echo_slow', 'loud_shout', 'plain_hello']);
      const r = await client.callTool({ name: 'loud_shout', arguments: { text: 'quiet please' } });
      assert.deepEqual(r.content, [{ type: 'text', text: 'QUIET PLEASE!!' }]);
      const bad = await client.callTool({ name: 'loud_shout', arguments: { text: 3 } });
      assert.equal(bad.isError, true);
      const c = await client.callTool({ name: 'plain_hello', arguments: {} });
      assert.deepEqual(c.content, [{ type: 'text', text: 'hello from C' }]);
      const e = await client.callTool({ name: 'echo_echo', arguments: { text: 'installed' } });
      assert.deepEqual(e.content, [{ type: 'text', text: 'installed' }]);
    } finally {
      await client.close();
      await stderrEnded;
    }
    const text = stderr();
    assert.doesNotMatch(text, /skipped/, text);
    // The installed keyhold uses the installed echo, not the build tree's.
    assert.ok(text.includes(path.join(prefix, 'lib', 'keyhold', 'plugins', 'echo.so')), text);
  });

  test('a plugin writing to stdout cannot corrupt the protocol stream', async () => {
    const config = sandbox.writeConfig(instanceToml('loud', path.join(pluginBuild, 'shout.so')), 'stray.toml');
    const server = await RawServer.start(sandbox, config, [], installedBin);
    try {
      await server.initialize();
      for (let i = 0; i < 3; ++i) {
        const r = await server.request('tools/call', { name: 'loud_shout', arguments: { text: `call ${i}` } });
        assert.deepEqual(r.result?.content, [{ type: 'text', text: `CALL ${i}!` }], JSON.stringify(r));
      }
      server.closeStdin();
      assert.deepEqual(await server.exited, { code: 0, signal: null });
      assert.deepEqual(server.badLines, []);
      assert.match(server.stderr, /stray stdout line from the shout constructor/);
      assert.match(server.stderr, /stray stdout from shout: CALL 2/);
    } finally {
      server.kill();
    }
  });
});
