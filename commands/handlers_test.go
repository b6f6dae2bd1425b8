package commands

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/google/uuid"
)

// flakyStore wraps the real store. For the streams whose name starts with
// one of the prefixes in lose, the next append is performed and its reply
// "lost" (an unavailable error); in fail, the next append is refused
// without writing.
type flakyStore struct {
	Store
	mu   sync.Mutex
	lose []string
	fail []string
}

func take(list *[]string, stream string) bool {
	for i, p := range *list {
		if strings.HasPrefix(stream, p) {
			*list = slices.Delete(*list, i, i+1)
			return true
		}
	}
	return false
}

func (f *flakyStore) Append(ctx context.Context, stream string, rev int64, evs []eventstore.Pending) (eventstore.AppendResult, error) {
	f.mu.Lock()
	lose, fail := take(&f.lose, stream), take(&f.fail, stream)
	f.mu.Unlock()
	unavailable := &eventstore.OpError{Op: "append", Stream: stream, Kind: eventstore.ErrUnavailable}
	if fail {
		return eventstore.AppendResult{}, unavailable
	}
	res, err := f.Store.Append(ctx, stream, rev, evs)
	if lose && err == nil {
		return eventstore.AppendResult{}, unavailable
	}
	return res, err
}

var admin = Actor{UserID: "admin", Roles: []string{"admin"}}

func TestRetryAfterLostReplyAppendsNothing(t *testing.T) {
	ctx := context.Background()
	real := openStore(t)
	fs := &flakyStore{Store: real, lose: []string{"customer-"}}
	h := New(Config{Store: fs})
	opts := Options{Actor: admin, IdempotencyKey: "register-acme"}
	in := RegisterCustomer{RegisterCustomer: domain.RegisterCustomer{Profile: domain.Profile{Name: "ACME"}}}

	_, err := h.RegisterCustomer(ctx, opts, in)
	if domain.KindOf(err) != domain.KindUnavailable {
		t.Fatalf("first attempt: %v, want unavailable", err)
	}
	res, err := h.RegisterCustomer(ctx, opts, in)
	if err != nil || !res.Replayed || res.Revision != 0 || res.Position == 0 {
		t.Fatalf("retry: %+v %v", res, err)
	}
	evs, _, err := real.LoadStream(ctx, res.Stream)
	if err != nil || len(evs) != 1 || evs[0].Position != res.Position {
		t.Fatalf("stream after retry: %d events (%v), result %+v", len(evs), err, res)
	}
	// The id was derived from the key, so the retry addressed the same stream.
	if id, _ := h.c.newAggregateID("customer", "", opts); res.ID != id.String() {
		t.Errorf("id %s, want the key-derived %s", res.ID, id)
	}
}

func TestWinRetryNeverCreatesTwoCustomers(t *testing.T) {
	ctx := context.Background()
	real := openStore(t)
	fs := &flakyStore{Store: real}
	h := New(Config{Store: fs})
	created, err := h.CreateOpportunity(ctx, Options{Actor: admin}, CreateOpportunity{CreateOpportunity: domain.CreateOpportunity{
		Title: "New shop", Prospect: &domain.Prospect{Name: "Shop Ltd", ContactName: "Bob"}}})
	if err != nil {
		t.Fatal(err)
	}
	oppID := uuid.MustParse(created.ID)
	if _, err := h.AssignOpportunity(ctx, Options{Actor: admin}, oppID, "rep"); err != nil {
		t.Fatal(err)
	}
	// The customer is registered, then the opportunity's append fails.
	fs.fail = []string{"opportunity-"}
	opts := Options{Actor: admin, IdempotencyKey: "win"}
	if _, err := h.WinOpportunity(ctx, opts, oppID, domain.WinOpportunity{}); domain.KindOf(err) != domain.KindUnavailable {
		t.Fatalf("first attempt: %v", err)
	}
	custStream := domain.CustomerStream(domain.CustomerIDForOpportunity(oppID))
	evs, _, _ := real.LoadStream(ctx, custStream)
	if len(evs) != 2 {
		t.Fatalf("customer stream after the failed attempt: %d events", len(evs))
	}
	for _, o := range []Options{opts, opts, {Actor: admin}} {
		res, err := h.WinOpportunity(ctx, o, oppID, domain.WinOpportunity{})
		if o.IdempotencyKey == "" {
			if domain.KindOf(err) != domain.KindConflict {
				t.Errorf("win without key after the win: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		_ = res
	}
	evs, _, _ = real.LoadStream(ctx, custStream)
	if got := len(evs); got != 2 {
		t.Errorf("customer stream: %d events, want 2 (one registration, one contact)", got)
	}
	opp, _, _ := real.LoadStream(ctx, domain.OpportunityStream(oppID))
	won := 0
	for _, ev := range opp {
		if ev.Type == domain.TypeOpportunityWon {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d OpportunityWon events", won)
	}
	for _, s := range []string{custStream, domain.OpportunityStream(oppID)} {
		evs, _, _ := real.LoadStream(ctx, s)
		if _, err := eventstore.VerifyChain(evs); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}

func TestOwnCustomersOnly(t *testing.T) {
	ctx := context.Background()
	h := New(Config{Store: openStore(t)})
	rep := Options{Actor: Actor{UserID: "rep", Roles: []string{"sales"}, OwnCustomersOnly: true}}
	mine, err := h.RegisterCustomer(ctx, rep, RegisterCustomer{RegisterCustomer: domain.RegisterCustomer{Profile: domain.Profile{Name: "Mine"}}})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := h.RegisterCustomer(ctx, Options{Actor: admin}, RegisterCustomer{RegisterCustomer: domain.RegisterCustomer{Profile: domain.Profile{Name: "Theirs"}, OwnerID: "other"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.ChangeCustomerLevel(ctx, rep, uuid.MustParse(mine.ID), 3); err != nil {
		t.Errorf("own customer: %v", err)
	}
	if _, err := h.ChangeCustomerLevel(ctx, rep, uuid.MustParse(theirs.ID), 3); domain.KindOf(err) != domain.KindForbidden {
		t.Errorf("other's customer: %v", err)
	}
	cid := uuid.MustParse(theirs.ID)
	if _, err := h.PlaceOrder(ctx, rep, PlaceOrder{PlaceOrder: domain.PlaceOrder{CustomerID: cid, Currency: "EUR",
		Lines: []domain.OrderLine{{SKU: "A", Quantity: domain.DecimalFromInt(1), UnitPrice: domain.DecimalFromInt(1)}}}}); domain.KindOf(err) != domain.KindForbidden {
		t.Errorf("order for other's customer: %v", err)
	}
	// A prospect opportunity belongs to its creator.
	opp, err := h.CreateOpportunity(ctx, rep, CreateOpportunity{CreateOpportunity: domain.CreateOpportunity{Title: "t", Prospect: &domain.Prospect{Name: "P"}}})
	if err != nil {
		t.Fatal(err)
	}
	other := Options{Actor: Actor{UserID: "rep2", OwnCustomersOnly: true}}
	if _, err := h.LoseOpportunity(ctx, other, uuid.MustParse(opp.ID), "no"); domain.KindOf(err) != domain.KindForbidden {
		t.Errorf("other rep on a prospect opportunity: %v", err)
	}
	if _, err := h.LoseOpportunity(ctx, rep, uuid.MustParse(opp.ID), "no"); err != nil {
		t.Errorf("creator: %v", err)
	}
}
