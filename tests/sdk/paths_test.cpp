// keyhold/sdk/paths.hpp: the default data directory.
#include <keyhold/sdk/paths.hpp>

#include <catch2/catch.hpp>

using keyhold::sdk::keyhold_data_dir;

TEST_CASE("the data directory follows XDG_DATA_HOME, then HOME", "[sdk][paths]") {
  CHECK(keyhold_data_dir("/x/data", "/home/u").value() == "/x/data/keyhold");
  CHECK(keyhold_data_dir("/x/data/", "/home/u").value() == "/x/data/keyhold");
  CHECK(keyhold_data_dir("", "/home/u").value() == "/home/u/.local/share/keyhold");
  CHECK(keyhold_data_dir("relative", "/home/u").value() == "/home/u/.local/share/keyhold");
  CHECK(keyhold_data_dir("/", "").value() == "/keyhold");
}

TEST_CASE("without XDG_DATA_HOME or HOME the data directory is an error", "[sdk][paths]") {
  CHECK_THAT(keyhold_data_dir("", "").error(), Catch::Matchers::Contains("XDG_DATA_HOME"));
  CHECK_FALSE(keyhold_data_dir("rel", "also-rel").is_ok());
}
