package commands

import (
	"context"
	"testing"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/google/uuid"
)

// TestCacheWithAnotherWriter: two Handlers on one store stand for two API
// processes. Each caches streams; the other's writes make that cache stale,
// which must never cause a wrong answer.
func TestCacheWithAnotherWriter(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	h1, h2 := New(Config{Store: store}), New(Config{Store: store})
	o := Options{Actor: admin}
	reg, err := h1.RegisterCustomer(ctx, o, RegisterCustomer{RegisterCustomer: domain.RegisterCustomer{Profile: domain.Profile{Name: "ACME"}}})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.MustParse(reg.ID)
	step := func(h *Handlers, wantRev int64, f func(*Handlers) (Result, error)) {
		t.Helper()
		res, err := f(h)
		if err != nil || res.Revision != wantRev {
			t.Fatalf("result %+v, err %v; want revision %d", res, err, wantRev)
		}
	}
	level := func(n int) func(*Handlers) (Result, error) {
		return func(h *Handlers) (Result, error) { return h.ChangeCustomerLevel(ctx, o, id, n) }
	}
	step(h1, 1, level(3)) // h1 caches revision 1
	step(h2, 2, level(4)) // h1's cache is stale now
	// Stale append: conflict, reload, decide again.
	step(h1, 3, level(5))
	step(h2, 4, level(3))
	// Stale no-op: h1 believes the level is 5, so 5 would be "no change",
	// but the stream says 3.
	step(h1, 5, level(5))
	step(h2, 6, level(2))
	// Stale If-Match: h1 has revision 5 cached; the stream is at 6.
	cur := int64(6)
	step(h1, 7, func(h *Handlers) (Result, error) {
		return h.ChangeCustomerLevel(ctx, Options{Actor: admin, IfMatch: &cur}, id, 4)
	})
	// Stale refusal: h1 believes the customer is active (defer refused), but
	// h2 raised a churn warning.
	step(h2, 8, func(h *Handlers) (Result, error) {
		return h.RaiseChurnWarning(ctx, o, id, domain.ChurnWarning{Why: domain.ChurnWhyRule})
	})
	step(h1, 9, func(h *Handlers) (Result, error) { return h.DeferChurn(ctx, o, id, "call them") })
	// Idempotent replay through a stale cache.
	ko := Options{Actor: admin, IdempotencyKey: "k"}
	step(h2, 10, func(h *Handlers) (Result, error) { return h.RateCustomerCredit(ctx, ko, id, 2) })
	step(h1, 10, func(h *Handlers) (Result, error) { return h.RateCustomerCredit(ctx, ko, id, 2) })
	step(h2, 10, func(h *Handlers) (Result, error) { return h.RateCustomerCredit(ctx, ko, id, 2) })

	evs, rev, err := store.LoadStream(ctx, domain.CustomerStream(id))
	if err != nil || rev != 10 {
		t.Fatalf("revision %d, %v", rev, err)
	}
	if _, err := eventstore.VerifyChain(evs); err != nil {
		t.Error(err)
	}
	// The cached history equals a fresh load's.
	fresh, err := h1.c.load(ctx, domain.CustomerStream(id), "customer")
	if err != nil {
		t.Fatal(err)
	}
	cached := h1.c.cache.get(domain.CustomerStream(id))
	if cached == nil {
		t.Fatal("not cached")
	}
	if len(cached.history) != len(fresh.history) || cached.rev != fresh.rev || cached.lastPosition() != fresh.lastPosition() {
		t.Errorf("cached %d events at %d/%d, fresh %d at %d/%d", len(cached.history), cached.rev, cached.lastPosition(),
			len(fresh.history), fresh.rev, fresh.lastPosition())
	}
}

func TestStateCacheLRU(t *testing.T) {
	c := newStateCache(2)
	for _, s := range []string{"a", "b", "c"} {
		c.put(s, &streamState{rev: 0})
	}
	if c.get("a") != nil || c.get("b") == nil || c.get("c") == nil {
		t.Error("LRU eviction")
	}
	c.put("none", &streamState{rev: -1})
	if c.get("none") != nil {
		t.Error("a missing stream was cached")
	}
	c.put("long", &streamState{rev: maxCachedEvents, positions: make([]uint64, maxCachedEvents+1)})
	if c.get("long") != nil {
		t.Error("a stream over maxCachedEvents was cached")
	}
	c.drop("b")
	if c.get("b") != nil {
		t.Error("drop")
	}
}
