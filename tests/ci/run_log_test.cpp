#include "run_log.hpp"

#include <catch2/catch.hpp>

using keyhold::ci::RunLog;

TEST_CASE("run log: small output is kept whole and read in slices") {
  RunLog log(1024);
  log.append("line 1\nline 2\n");
  CHECK(log.total_bytes() == 14);
  CHECK_FALSE(log.truncated());
  auto s = log.read(0, 7);
  CHECK(s.text == "line 1\n");
  CHECK(s.next_offset == 7);
  s = log.read(s.next_offset, 100);
  CHECK(s.text == "line 2\n");
  CHECK(s.next_offset == 14);
  CHECK(log.tail_text(100) == "line 1\nline 2\n");
}

TEST_CASE("run log: large output keeps its start and end, says what was dropped") {
  RunLog log(2000);  // 1000 head + 1000 tail
  for (int i = 0; i < 100000; ++i) log.append("line " + std::to_string(i) + "\n");
  CHECK(log.truncated());
  CHECK(log.head().size() == 1000);
  CHECK(log.tail().size() <= 2000);
  const auto head = log.read(0, 12);
  CHECK(head.text == "line 0\nline ");
  const auto middle = log.read(5000, 100);
  CHECK(middle.dropped_from == 1000);
  CHECK(middle.dropped_to == log.tail_start());
  CHECK(middle.offset == log.tail_start());
  const auto end = log.read(log.total_bytes() - 11, 100);
  CHECK(end.text == "line 99999\n");
  const std::string tail = log.tail_text(30);
  CHECK(tail.ends_with("line 99998\nline 99999\n"));
  CHECK(tail.size() <= 30);
}

TEST_CASE("run log: one chunk bigger than the whole budget") {
  RunLog log(100);
  log.append(std::string(1000, 'a') + "END");
  CHECK(log.total_bytes() == 1003);
  CHECK(log.tail().size() == 50);
  CHECK(log.read(log.total_bytes() - 3, 10).text == "END");
}

TEST_CASE("run log: slices never split a UTF-8 character") {
  RunLog log(1024);
  log.append("\xc3\xa9\xc3\xa9");  // éé
  CHECK(log.read(1, 10).text == "\xc3\xa9");
  CHECK(log.read(0, 3).text == "\xc3\xa9");
}

TEST_CASE("run log: what the history stores is at most the budget") {
  RunLog log(100);
  for (int i = 0; i < 72; ++i) log.append("0123456789\n");  // 792 bytes in small chunks
  CHECK(log.head().size() == 50);
  CHECK(log.tail().size() == 50);  // the window in memory may be longer until trimmed
  CHECK(log.tail() == std::string("56789\n0123456789\n0123456789\n0123456789\n0123456789\n"));
  RunLog restored(100, log.head(), log.tail(), log.total_bytes());
  CHECK(restored.total_bytes() == 792);
  CHECK(restored.tail_start() == 742);
}
