// Package importer holds the importers of external data sets into the CRM's
// event log. Today that is the UCI "Online Retail" data set (Daqing Chen,
// 2015, CC BY 4.0: every invoice line of a UK-based online retailer from
// 2010-12-01 to 2011-12-09), imported as customers, orders, cancellations
// and returns by "crm import online-retail FILE".
//
// An import runs in three steps:
//
//  1. Read: a streaming CSV reader (plain or gzip-compressed, detected by
//     magic bytes, not by the file name) parses and validates every row
//     (Reader, ParseRow). A row that cannot be parsed (wrong number of
//     fields, a quantity, price, date or customer id that is not a number
//     or a date) stops the import with a *ParseError naming the line and
//     the column, before anything is written: such a file is not the data
//     set. Rows that parse but make no sense as a CRM order (see
//     SkipReason) are counted and reported as skipped with their reason,
//     never silently dropped.
//  2. Plan: rows are grouped into invoices (by invoice number, whether or
//     not their lines are contiguous), invoices into customers, and every
//     cancellation ("C" invoice) is matched against the customer's earlier
//     orders (Plan). Planning is pure and deterministic.
//  3. Write: the plan becomes domain events, decided by the domain
//     aggregates (their invariants apply), appended per stream in batches
//     with expected revisions and deterministic event ids (eventstore.EventID
//     of idempotency keys such as "import:online-retail:invoice:536365"), by
//     a pool of workers partitioned by customer so that one customer's
//     events are written in business-time order. A second import of the same
//     file appends nothing: existing events are recognised and counted as
//     already imported.
//
// Times: InvoiceDate is the retailer's local time (Europe/London, with
// daylight saving time); it is converted to UTC for the events' occurredAt.
// The time zone database is embedded (time/tzdata), so the import does not
// depend on the host's zoneinfo files.
//
// Money is exact: unit prices are parsed as decimals (Decimal), never as
// floating-point numbers. The currency is GBP.
//
// Import rule: this package may import domain, eventstore, commands and
// internal/... (plus the standard library and the libraries those already
// depend on). It never imports projections, readapi or cmd, and never reads
// flags or environment variables: cmd/crm wires it.
package importer
