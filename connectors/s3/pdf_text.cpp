#include "pdf_text.hpp"

#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>

#include <climits>
#include <memory>
#include <mutex>

namespace keyhold::s3 {

namespace {
// poppler prints its own complaints about damaged files on stderr; they say nothing the
// error we return does not, so they are dropped.
void quiet(const std::string&, void*) {}
std::once_flag quiet_once;
}  // namespace

void extract_pdf_text(std::string_view bytes, int first_page, int max_pages,
                      const std::function<void(int, int)>& on_open,
                      const std::function<void(std::string)>& on_page) {
  std::call_once(quiet_once, [] { poppler::set_debug_error_function(&quiet, nullptr); });
  if (bytes.size() > static_cast<std::size_t>(INT_MAX))
    throw PdfError("the PDF is too large to open (over 2 GiB)");
  if (!bytes.starts_with("%PDF-") && bytes.substr(0, 1024).find("%PDF-") == std::string_view::npos)
    throw PdfError("the object is not a PDF (no %PDF- header)");
  // poppler keeps a pointer to the data; it outlives the document below.
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
  if (!doc) throw PdfError("the PDF is damaged and cannot be read (poppler could not open it)");
  if (doc->is_locked())
    throw PdfError("the PDF is password-protected; this connector cannot open encrypted PDFs");
  const int total_pages = doc->pages();
  if (total_pages <= 0) throw PdfError("the PDF has no pages (it may be damaged)");
  if (first_page < 1) first_page = 1;
  if (first_page > total_pages)
    throw PdfError("page " + std::to_string(first_page) + " is beyond the last page (" +
                   std::to_string(total_pages) + ")");
  on_open(total_pages, first_page);
  const int last = std::min(total_pages, first_page + max_pages - 1);
  for (int n = first_page; n <= last; ++n) {
    std::unique_ptr<poppler::page> page(doc->create_page(n - 1));
    if (!page) throw PdfError("page " + std::to_string(n) + " of the PDF cannot be read");
    const poppler::byte_array utf8 = page->text().to_utf8();
    on_page(std::string(utf8.begin(), utf8.end()));
  }
}

PdfPages extract_pdf_text(std::string_view bytes, int first_page, int max_pages) {
  PdfPages out;
  extract_pdf_text(
      bytes, first_page, max_pages,
      [&](int total, int first) {
        out.total_pages = total;
        out.first_page = first;
      },
      [&](std::string text) { out.pages.push_back(std::move(text)); });
  return out;
}

}  // namespace keyhold::s3
