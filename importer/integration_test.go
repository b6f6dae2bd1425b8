package importer_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/importer"
)

const slicePath = "testdata/online-retail-slice.csv"

// openStore starts the embedded event store in a temporary directory and
// connects to it through the official client.
func openStore(t *testing.T) *eventstore.Store {
	t.Helper()
	store, err := eventstore.Open(context.Background(), eventstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func importFile(t *testing.T, store importer.Store, path string) (*importer.Summary, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return importer.ImportOnlineRetail(context.Background(), store, f, importer.Options{Workers: 8})
}

func readAll(t *testing.T, store *eventstore.Store) []eventstore.Recorded {
	t.Helper()
	var out []eventstore.Recorded
	var after eventstore.Checkpoint
	for {
		page, err := store.ReadAll(context.Background(), after, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			if !r.IsSystem() {
				out = append(out, r)
			}
		}
		if len(page) < 500 {
			return out
		}
		after = page[len(page)-1].Checkpoint()
	}
}

func head(t *testing.T, store *eventstore.Store) eventstore.Checkpoint {
	t.Helper()
	h, err := store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func utc(s string) time.Time {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return tm
}

// TestImportSlice imports 326 real lines of the data set (8 customers with
// orders, exact cancellations, returns split over orders, refunds of goods
// bought before the data set starts, a cancellation with no earlier order,
// a customer seen in two countries, guest lines), checks the counts and the
// streams, then imports again and checks that nothing was appended.
func TestImportSlice(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)

	sum, err := importFile(t, store, slicePath)
	if err != nil {
		t.Fatal(err)
	}
	type counts struct {
		Rows, GuestLines, GuestInvoices, Skipped, Customers, Orders, Cancellations, OrdersCancelled, Returns,
		UnmatchedCancels, UnmatchedLines, MultiCountry, Events, Appended, Already, Failed int
	}
	got := counts{sum.Rows, sum.GuestLines, sum.GuestInvoices, sum.SkippedRows(), sum.Customers, sum.Orders, sum.Cancellations,
		sum.OrdersCancelled, sum.Returns, sum.UnmatchedCancels, sum.UnmatchedLines, sum.MultiCountryCustomers,
		sum.Events, sum.Appended, sum.AlreadyImported, sum.FailedCustomers}
	want := counts{Rows: 326, GuestLines: 47, GuestInvoices: 7, Skipped: 0, Customers: 8, Orders: 37, Cancellations: 11,
		OrdersCancelled: 3, Returns: 7, UnmatchedCancels: 1, UnmatchedLines: 3, MultiCountry: 1,
		Events: 8 + 37 + 3 + 7, Appended: 55, Already: 0, Failed: 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}

	all := readAll(t, store)
	types := map[string]int{}
	streams := map[string][]eventstore.Recorded{}
	var streamOrder []string
	for _, r := range all {
		types[r.Type]++
		if streams[r.Stream] == nil {
			streamOrder = append(streamOrder, r.Stream)
		}
		streams[r.Stream] = append(streams[r.Stream], r)
		if r.Metadata.Actor != importer.Actor {
			t.Errorf("%s@%d: actor %q", r.Stream, r.Revision, r.Metadata.Actor)
		}
	}
	wantTypes := map[string]int{domain.TypeCustomerRegistered: 8, domain.TypeOrderPlaced: 37, domain.TypeOrderCancelled: 3, domain.TypeOrderReturned: 7}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Errorf("event types in $all (-want +got):\n%s", diff)
	}
	// Every stream's hash chain verifies (the importer chains batches itself).
	for _, s := range streamOrder {
		if _, err := eventstore.VerifyChain(streams[s]); err != nil {
			t.Errorf("chain of %s: %v", s, err)
		}
	}
	// One customer's events are in $all in business-time order.
	lastAt := map[string]time.Time{}
	for _, r := range all {
		var ref struct {
			CustomerID string `json:"customerId"`
		}
		if err := json.Unmarshal(r.Data, &ref); err != nil {
			t.Fatal(err)
		}
		if r.Metadata.OccurredAt.Before(lastAt[ref.CustomerID]) {
			t.Errorf("%s@%d (%s) occurred at %v, before the customer's previous event (%v)",
				r.Stream, r.Revision, r.Type, r.Metadata.OccurredAt, lastAt[ref.CustomerID])
		}
		lastAt[ref.CustomerID] = r.Metadata.OccurredAt
	}

	// Customer 16163: registered at its first invoice (GMT), then order
	// 550934 placed in summer time (BST, UTC+1) and cancelled exactly by
	// C551510.
	custID := importer.CustomerUUID("16163")
	evs, _, err := store.LoadStream(ctx, domain.CustomerStream(custID))
	if err != nil || len(evs) != 1 {
		t.Fatalf("customer stream: %d events, %v", len(evs), err)
	}
	var reg domain.CustomerRegistered
	if err := json.Unmarshal(evs[0].Data, &reg); err != nil {
		t.Fatal(err)
	}
	wantReg := domain.CustomerRegistered{CustomerID: custID,
		Profile: domain.Profile{Name: "Online Retail customer 16163", Region: "United Kingdom"},
		Level:   domain.LevelStandard, ExternalRef: "online-retail:16163", RegisteredAt: utc("2010-12-09T16:28:00Z")}
	if diff := cmp.Diff(wantReg, reg); diff != "" {
		t.Errorf("CustomerRegistered (-want +got):\n%s", diff)
	}
	if id := eventstore.EventID("import:online-retail:customer:16163", 0); evs[0].EventID != id {
		t.Errorf("event id %v, want %v", evs[0].EventID, id)
	}

	orderID := importer.OrderUUID("550934")
	evs, _, err = store.LoadStream(ctx, domain.OrderStream(orderID))
	if err != nil || len(evs) != 2 {
		t.Fatalf("order stream: %d events, %v", len(evs), err)
	}
	var placed domain.OrderPlaced
	var cancelled domain.OrderCancelled
	if err := json.Unmarshal(evs[0].Data, &placed); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(evs[1].Data, &cancelled); err != nil {
		t.Fatal(err)
	}
	if placed.OrderNo != "550934" || placed.CustomerID != custID || placed.Currency != "GBP" || len(placed.Lines) != 1 ||
		placed.Lines[0].SKU != "47566" || placed.Lines[0].UnitPrice.String() != "4.15" || placed.Total.String() != "415.00" ||
		!placed.OrderedAt.Equal(utc("2011-04-21T14:15:00Z")) {
		t.Errorf("OrderPlaced = %+v", placed)
	}
	if !evs[0].Metadata.OccurredAt.Equal(utc("2011-04-21T14:15:00Z")) || !evs[1].Metadata.OccurredAt.Equal(utc("2011-04-28T18:43:00Z")) {
		t.Errorf("occurredAt %v, %v", evs[0].Metadata.OccurredAt, evs[1].Metadata.OccurredAt)
	}
	if cancelled.Reason != "cancellation invoice C551510" || cancelled.Total.String() != "415.00" || cancelled.PreviousStatus != domain.OrderStatusPlaced {
		t.Errorf("OrderCancelled = %+v", cancelled)
	}
	if id := eventstore.EventID("import:online-retail:invoice:C551510", 0); evs[1].EventID != id {
		t.Errorf("cancellation event id %v, want %v", evs[1].EventID, id)
	}

	// Customer 17873: C549973 returns one line of order 549967 and refunds
	// goods bought before the data set starts.
	evs, _, err = store.LoadStream(ctx, domain.OrderStream(importer.OrderUUID("549967")))
	if err != nil || len(evs) != 3 || evs[1].Type != domain.TypeOrderReturned || evs[2].Type != domain.TypeOrderReturned {
		t.Fatalf("order 549967: %d events, %v", len(evs), err)
	}
	var ret, refund domain.OrderReturned
	json.Unmarshal(evs[1].Data, &ret)
	json.Unmarshal(evs[2].Data, &refund)
	if len(ret.Lines) != 1 || ret.ReturnNo != 1 || refund.ReturnNo != 2 || len(refund.Lines) != 0 || refund.Amount.String() != "50.40" {
		t.Errorf("returns %+v / %+v", ret, refund)
	}

	// Again: nothing is appended, everything is recognised.
	before := head(t, store)
	sum2, err := importFile(t, store, slicePath)
	if err != nil {
		t.Fatal(err)
	}
	if after := head(t, store); after != before {
		t.Errorf("second import moved the head of $all from %v to %v", before, after)
	}
	if sum2.Appended != 0 || sum2.AlreadyImported != sum.Events || sum2.Events != sum.Events {
		t.Errorf("second import: appended %d, already imported %d of %d; want 0, all", sum2.Appended, sum2.AlreadyImported, sum2.Events)
	}

	// A malformed file stops before writing anything, naming the line.
	_, err = importFile(t, store, "testdata/online-retail-malformed.csv")
	var pe *importer.ParseError
	if !errors.As(err, &pe) || pe.Line != 5 {
		t.Errorf("malformed file: err = %v, want a *ParseError on line 5", err)
	}
	if after := head(t, store); after != before {
		t.Errorf("a malformed file moved the head of $all")
	}
}

// TestImportResumes: an import cut short (here: a file that ends early, at
// an invoice boundary) is completed by importing the whole file; what was
// written is recognised, the rest appended.
func TestImportResumes(t *testing.T) {
	store := openStore(t)
	full, err := os.ReadFile(slicePath)
	if err != nil {
		t.Fatal(err)
	}
	var part bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(full))
	for i := 0; sc.Scan(); i++ {
		line := sc.Text()
		if i == 0 || strings.Contains(line, ",2010-12-") {
			part.WriteString(line + "\n")
		}
	}
	partPath := t.TempDir() + "/part.csv"
	if err := os.WriteFile(partPath, part.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	first, err := importFile(t, store, partPath)
	if err != nil {
		t.Fatal(err)
	}
	second, err := importFile(t, store, slicePath)
	if err != nil {
		t.Fatal(err)
	}
	if first.Appended == 0 || second.AlreadyImported != first.Appended || second.Appended != second.Events-first.Appended {
		t.Errorf("first run appended %d; second: %d already imported, %d appended of %d", first.Appended,
			second.AlreadyImported, second.Appended, second.Events)
	}
}

// cancelAfter is a Progress that cancels the import after n events.
type cancelAfter struct {
	importer.NoProgress
	n      int
	done   int
	mu     sync.Mutex
	cancel context.CancelFunc
}

func (c *cancelAfter) Add(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done += n
	if c.done >= c.n {
		c.cancel()
	}
}

// TestImportInterrupted: an import interrupted half-way (Ctrl-C) stops with
// an error; running it again completes it without duplicating anything.
func TestImportInterrupted(t *testing.T) {
	store := openStore(t)
	f, err := os.Open(slicePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = importer.ImportOnlineRetail(ctx, store, f, importer.Options{Workers: 3, Progress: &cancelAfter{n: 20, cancel: cancel}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted import: err = %v, want context.Canceled", err)
	}
	written := len(readAll(t, store))
	if written == 0 || written >= 55 {
		t.Fatalf("%d events written before the interruption; want some, not all", written)
	}

	sum, err := importFile(t, store, slicePath)
	if err != nil {
		t.Fatal(err)
	}
	all := readAll(t, store)
	// An append cancelled on the client may still commit on the server
	// after the import returned: at least what was seen is recognised.
	if len(all) != 55 || sum.AlreadyImported < written || sum.AlreadyImported+sum.Appended != 55 {
		t.Errorf("after resuming: %d events in $all; %d already imported, %d appended; %d were written before",
			len(all), sum.AlreadyImported, sum.Appended, written)
	}
	byStream := map[string][]eventstore.Recorded{}
	for _, r := range all {
		byStream[r.Stream] = append(byStream[r.Stream], r)
	}
	for s, evs := range byStream {
		if _, err := eventstore.VerifyChain(evs); err != nil {
			t.Errorf("chain of %s: %v", s, err)
		}
	}
}

// TestImportCancelledBeforeWriting: an import whose context ends before
// writing starts reports it rather than success.
func TestImportCancelledBeforeWriting(t *testing.T) {
	store := openStore(t)
	f, err := os.Open(slicePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := importer.ImportOnlineRetail(ctx, store, f, importer.Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
