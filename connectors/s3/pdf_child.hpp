// pdf_child.hpp - get_pdf_text's extraction in a child process with a budget: CPU time,
// memory and wall-clock limits, and cancellation. poppler can spend minutes of CPU on a
// small crafted PDF (issue 15); a child can be stopped at once, a thread cannot.
//
// The child is forked from the connector's process (the sandboxed keyhold-runner by
// default, so it keeps that sandbox), lowers RLIMIT_CPU and RLIMIT_AS, extracts the pages
// and streams them back over a pipe page by page. The parent polls every 50 ms: a
// cancelled request or the wall limit kills the child (SIGKILL) and reaps it before
// returning.
//
// The child of a multi-threaded process runs poppler and malloc only (glibc's malloc is
// fork-safe); should it block on a lock another thread held at fork time, the wall limit
// ends it like any other slow extraction.
#pragma once

#include "pdf_text.hpp"

#include <chrono>
#include <cstdint>
#include <functional>

namespace keyhold::s3 {

struct PdfBudget {
  std::chrono::milliseconds wall{30000};  // pdf_timeout_ms
  int cpu_seconds = 20;                   // pdf_cpu_seconds
  // pdf_memory_bytes: how far the child's address space (RLIMIT_AS) may grow beyond what
  // it inherited, so also what poppler may decode. Not applied in AddressSanitizer builds
  // (their shadow memory needs terabytes of address space).
  std::uint64_t memory_bytes = 512ull * 1024 * 1024;
  std::size_t max_text_bytes = 16 * 1024 * 1024;  // of text sent back, all pages together
};

// Thrown when the request was cancelled (the child is already gone).
struct PdfCancelled {};

// extract_pdf_text() in a child under `budget`. Throws PdfError with a message naming the
// limit that stopped it (and the option that sets it), or PdfError from the extraction
// itself; throws PdfCancelled when `cancelled()` turned true. `cancelled` is polled from
// this thread only.
PdfPages extract_pdf_text_in_child(std::string_view bytes, int first_page, int max_pages,
                                   const PdfBudget& budget, const std::function<bool()>& cancelled);

}  // namespace keyhold::s3
