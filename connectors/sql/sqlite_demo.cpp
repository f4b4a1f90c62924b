// The demo database that the embedded default config serves: a small shop with foreign
// keys, an index and a view, so a fresh install has a real connector to try.
#include "sqlite_backend.hpp"

#include <sqlite3.h>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <system_error>

namespace keyhold::sql {

namespace {
constexpr const char* kDemoSchema = R"sql(
PRAGMA foreign_keys = ON;
BEGIN;
CREATE TABLE customers (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  email      TEXT NOT NULL UNIQUE,
  country    TEXT,
  created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE products (
  id          INTEGER PRIMARY KEY,
  sku         TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
  weight_kg   REAL,
  thumbnail   BLOB
);
CREATE TABLE orders (
  id          INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
  status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open','paid','shipped','cancelled')),
  ordered_at  TEXT NOT NULL,
  note        TEXT
);
CREATE INDEX orders_by_customer ON orders(customer_id, ordered_at);
CREATE TABLE order_items (
  order_id   INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  product_id INTEGER NOT NULL REFERENCES products(id),
  quantity   INTEGER NOT NULL CHECK (quantity > 0),
  PRIMARY KEY (order_id, product_id)
);
CREATE VIEW order_totals AS
  SELECT o.id AS order_id, c.name AS customer, sum(i.quantity * p.price_cents) AS total_cents
  FROM orders o JOIN customers c ON c.id = o.customer_id
  JOIN order_items i ON i.order_id = o.id JOIN products p ON p.id = i.product_id
  GROUP BY o.id;
INSERT INTO customers (id, name, email, country, created_at) VALUES
  (1, 'Ada Lovelace', 'ada@example.com', 'GB', '2024-01-05 10:00:00'),
  (2, 'Grace Hopper', 'grace@example.com', 'US', '2024-02-11 09:30:00'),
  (3, 'Linus Torvalds', 'linus@example.com', 'FI', '2024-03-20 16:45:00'),
  (4, 'Barbara Liskov', 'barbara@example.com', 'US', '2024-04-02 12:15:00');
INSERT INTO products (id, sku, name, price_cents, weight_kg, thumbnail) VALUES
  (1, 'KB-01', 'Mechanical keyboard', 8900, 1.2, x'89504e47'),
  (2, 'MS-02', 'Trackball', 4500, 0.3, NULL),
  (3, 'MN-27', '27-inch monitor', 27900, 6.4, NULL),
  (4, 'CB-10', 'USB-C cable', 1200, 0.05, NULL);
INSERT INTO orders (id, customer_id, status, ordered_at, note) VALUES
  (1, 1, 'shipped', '2024-05-01 08:00:00', NULL),
  (2, 2, 'paid', '2024-05-03 14:20:00', 'gift wrap'),
  (3, 1, 'open', '2024-06-10 19:05:00', NULL),
  (4, 4, 'cancelled', '2024-06-12 11:00:00', 'changed mind');
INSERT INTO order_items (order_id, product_id, quantity) VALUES
  (1, 1, 1), (1, 4, 2), (2, 3, 1), (3, 2, 1), (3, 4, 3), (4, 1, 1);
COMMIT;
)sql";
}  // namespace

void create_demo_database(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path target(path);
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec)
      throw SqlError("cannot create the directory for the demo database " + path + ": " +
                     ec.message());
  }
  const std::string temp = path + ".tmp-" + std::to_string(::getpid());
  fs::remove(temp, ec);
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      temp.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  char* error = nullptr;
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, kDemoSchema, nullptr, nullptr, &error);
  std::string why;
  if (rc != SQLITE_OK)
    why = error != nullptr ? error : (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  sqlite3_free(error);
  const int close_rc = sqlite3_close(db);
  if (rc == SQLITE_OK && close_rc != SQLITE_OK) {
    rc = close_rc;
    why = sqlite3_errstr(close_rc);
  }
  if (rc != SQLITE_OK) {
    fs::remove(temp, ec);
    throw SqlError("cannot create the demo database " + path + ": " + why);
  }
  fs::permissions(temp, fs::perms::owner_read | fs::perms::owner_write, ec);
  fs::rename(temp, target, ec);
  if (ec) {
    const std::string reason = ec.message();
    fs::remove(temp, ec);
    throw SqlError("cannot move the demo database into place at " + path + ": " + reason);
  }
}

}  // namespace keyhold::sql
