// pdf_text.hpp - text per page of a PDF held in memory, through poppler-cpp.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace keyhold::s3 {

struct PdfPages {
  int total_pages = 0;
  int first_page = 0;              // 1-based number of pages[0]
  std::vector<std::string> pages;  // UTF-8 text, one entry per page
};

// Thrown with a message for the user: not a PDF, damaged, or password-protected.
struct PdfError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Extracts pages [first_page, first_page + max_pages) (1-based, clipped to the document).
// Throws PdfError when the bytes are no readable PDF or need a password, and when
// first_page lies beyond the last page.
PdfPages extract_pdf_text(std::string_view bytes, int first_page, int max_pages);

// As above, calling on_open(total_pages, first_page) once the document is open and
// on_page(text) after each page, in order, instead of collecting them.
void extract_pdf_text(std::string_view bytes, int first_page, int max_pages,
                      const std::function<void(int, int)>& on_open,
                      const std::function<void(std::string)>& on_page);

}  // namespace keyhold::s3
