package commands

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
)

// streamTypes lists the event types of a stream, in order.
func streamTypes(t *testing.T, s *eventstore.Store, stream string) []string {
	t.Helper()
	evs, _, err := s.LoadStream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func TestWarnChurn(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	now := day
	h := New(Config{Store: store, Now: func() time.Time { return now }})
	score := 75
	w := domain.ChurnWarning{Why: domain.ChurnWhyScore, Score: &score, Signals: []domain.ChurnSignal{{Signal: "recency", Contribution: 30, Detail: "no order for 200 days"}}}
	register := func(name string) uuid.UUID {
		t.Helper()
		res, err := h.RegisterCustomer(ctx, Options{Actor: admin}, RegisterCustomer{RegisterCustomer: domain.RegisterCustomer{Profile: domain.Profile{Name: name}}})
		if err != nil {
			t.Fatal(err)
		}
		return uuid.MustParse(res.ID)
	}
	scorer := Options{Actor: Actor{UserID: "churn-scorer"}}
	withKey := func(key string) Options { o := scorer; o.IdempotencyKey = key; return o }

	t.Run("active is warned once; retries and an at-risk customer record nothing", func(t *testing.T) {
		id := register("A")
		stream := domain.CustomerStream(id)
		res, err := h.WarnChurn(ctx, withKey("churn-warning:"+id.String()+":2026-03-02"), id, w)
		if err != nil || !res.Changed || res.Replayed {
			t.Fatalf("first: %+v %v", res, err)
		}
		res, err = h.WarnChurn(ctx, withKey("churn-warning:"+id.String()+":2026-03-02"), id, w)
		if err != nil || !res.Replayed {
			t.Fatalf("retry: %+v %v", res, err)
		}
		now = day.AddDate(0, 0, 1) // the next day: a new key, but the customer is at risk
		defer func() { now = day }()
		res, err = h.WarnChurn(ctx, withKey("churn-warning:"+id.String()+":2026-03-03"), id, w)
		if err != nil || res.Changed {
			t.Fatalf("at risk: %+v %v", res, err)
		}
		if diff := cmp.Diff([]string{domain.TypeCustomerRegistered, domain.TypeChurnWarningRaised}, streamTypes(t, store, stream)); diff != "" {
			t.Errorf("stream (-want +got):\n%s", diff)
		}
	})

	t.Run("lost customer records nothing and is no error", func(t *testing.T) {
		id := register("L")
		if _, err := h.ConfirmChurn(ctx, Options{Actor: admin}, id, "moved away"); err != nil {
			t.Fatal(err)
		}
		res, err := h.WarnChurn(ctx, withKey("churn-warning:"+id.String()+":2026-03-02"), id, w)
		if err != nil || res.Changed {
			t.Fatalf("lost: %+v %v", res, err)
		}
	})

	t.Run("bad input and unknown customer are clear errors", func(t *testing.T) {
		id := register("B")
		_, err := h.WarnChurn(ctx, scorer, id, domain.ChurnWarning{Why: "vibes"})
		if domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("bad why: %v, want invalid", err)
		}
		if _, err := h.WarnChurn(ctx, scorer, uuid.New(), w); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("unknown customer: %v, want not found", err)
		}
	})

	t.Run("two processes with the same key record one warning", func(t *testing.T) {
		id := register("C")
		// Separate Handlers: no shared stream lock or cache, as two scorer
		// processes would be.
		hs := []*Handlers{New(Config{Store: store, Now: func() time.Time { return day }}), New(Config{Store: store, Now: func() time.Time { return day }})}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = hs[i%2].WarnChurn(ctx, withKey("churn-warning:"+id.String()+":2026-03-02"), id, w)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		}
		if diff := cmp.Diff([]string{domain.TypeCustomerRegistered, domain.TypeChurnWarningRaised}, streamTypes(t, store, domain.CustomerStream(id))); diff != "" {
			t.Errorf("stream (-want +got):\n%s", diff)
		}
	})
}
