// Package demo holds the demo data set of "crm demo" (and of the first
// start of "crm serve" on an empty store): a slice of the UCI Online Retail
// data set (Daqing Chen, 2015, CC BY 4.0), imported by the importer, plus
// generated CRM work around it, all recorded through the command handlers
// (commands.Handlers), so every event passed the domain's invariants and
// carries an actor:
//
//   - each customer gets an owner (a sales rep), a company profile, a
//     credit rating, one to three contacts and a level that follows its
//     orders;
//   - interactions (calls, emails, visits, meetings) around its order dates,
//     and a call when it has gone quiet;
//   - the orders the import left untouched are shipped, delivered and paid;
//   - sales opportunities: won ones that end in one of its real orders, lost
//     ones before it went quiet, open ones in the last weeks, each with a
//     plan of two or three items; and opportunities for prospects (won ones
//     register a new customer);
//   - service requests: consultations, suggestions, complaints after returns
//     and before a customer goes quiet (badly rated, reopened once), each
//     assigned, handled and given feedback unless still being worked on;
//   - the 6-month rule's churn warnings, some deferred with a retention
//     measure, some confirmed.
//
// Times: every generated command runs with the command handlers' clock set
// to its business time, between the customer's first invoice and the last
// invoice of the slice (Demo.AsOf, 2011-12-09 for the embedded slice), so
// the story is consistent with the orders.
//
// Determinism and idempotency: Generate is a pure function of the import
// plan and the seed (math/rand/v2 PCG streams per customer); every command
// carries an idempotency key derived from the seed, the customer and the
// step, and every created thing an id derived from the same, so running
// Load again with the same options appends nothing. A different seed
// generates a second story over the same imported customers.
//
// The slice: online-retail-demo.csv.gz is CutSlice of the full file for
// EmbeddedCustomers customers (the customers ranked first by a hash of
// their CustomerID: a spread-out sample). Options.Source cuts a slice of
// another size from the full file instead.
//
// Import rule: domain, commands, importer and eventstore (through the
// importer's Store), plus the standard library and google/uuid. It never
// imports projections, readapi or cmd, and never reads flags or
// environment variables.
package demo
