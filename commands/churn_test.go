package commands

import (
	"context"
	"strings"
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

func TestClearChurn(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	h := New(Config{Store: store, Now: func() time.Time { return day }})
	w := domain.ChurnWarning{Why: domain.ChurnWhyRule, Signals: []domain.ChurnSignal{{Signal: "rule", Detail: "no order for 7 months"}}}
	scorer := Options{Actor: Actor{UserID: "churn-scorer"}}
	withKey := func(key string) Options { o := scorer; o.IdempotencyKey = key; return o }
	const reason = "the risk is gone: score 12 (low), the 6-month rule does not fire"

	// Each case brings a fresh customer to a state, then clears it twice
	// with the same key (a retry) and once with the next day's key.
	for _, tc := range []struct {
		name  string
		given func(t *testing.T, id uuid.UUID)
		// want: the stream's event types after the three calls.
		want        []string
		firstChange bool
	}{
		{name: "at risk is cleared once", given: func(t *testing.T, id uuid.UUID) {
			t.Helper()
			if _, err := h.WarnChurn(ctx, scorer, id, w); err != nil {
				t.Fatal(err)
			}
		}, want: []string{domain.TypeCustomerRegistered, domain.TypeChurnWarningRaised, domain.TypeChurnWarningCleared}, firstChange: true},
		{name: "active records nothing", given: func(*testing.T, uuid.UUID) {},
			want: []string{domain.TypeCustomerRegistered}},
		{name: "reactivated records nothing", given: func(t *testing.T, id uuid.UUID) {
			t.Helper()
			if _, err := h.WarnChurn(ctx, scorer, id, w); err != nil {
				t.Fatal(err)
			}
			if _, err := h.ReactivateCustomer(ctx, Options{Actor: admin}, id, "called back"); err != nil {
				t.Fatal(err)
			}
		}, want: []string{domain.TypeCustomerRegistered, domain.TypeChurnWarningRaised, domain.TypeCustomerReactivated}},
		{name: "lost records nothing and is no error", given: func(t *testing.T, id uuid.UUID) {
			t.Helper()
			if _, err := h.ConfirmChurn(ctx, Options{Actor: admin}, id, "moved away"); err != nil {
				t.Fatal(err)
			}
		}, want: []string{domain.TypeCustomerRegistered, domain.TypeChurnConfirmed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.RegisterCustomer(ctx, Options{Actor: admin}, RegisterCustomer{RegisterCustomer: domain.RegisterCustomer{Profile: domain.Profile{Name: tc.name}}})
			if err != nil {
				t.Fatal(err)
			}
			id := uuid.MustParse(res.ID)
			tc.given(t, id)
			key := "churn-clear:" + id.String() + ":2026-03-02"
			first, err := h.ClearChurn(ctx, withKey(key), id, reason)
			if err != nil || first.Changed != tc.firstChange || first.Replayed {
				t.Fatalf("first: %+v %v, want changed=%v", first, err, tc.firstChange)
			}
			retry, err := h.ClearChurn(ctx, withKey(key), id, reason)
			if err != nil || retry.Replayed != tc.firstChange || (!tc.firstChange && retry.Changed) {
				t.Fatalf("retry: %+v %v", retry, err)
			}
			next, err := h.ClearChurn(ctx, withKey("churn-clear:"+id.String()+":2026-03-03"), id, reason)
			if err != nil || next.Changed {
				t.Fatalf("next day (now active or lost): %+v %v", next, err)
			}
			if diff := cmp.Diff(tc.want, streamTypes(t, store, domain.CustomerStream(id))); diff != "" {
				t.Errorf("stream (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("bad input and unknown customer are clear errors", func(t *testing.T) {
		res, err := h.RegisterCustomer(ctx, Options{Actor: admin}, RegisterCustomer{RegisterCustomer: domain.RegisterCustomer{Profile: domain.Profile{Name: "B"}}})
		if err != nil {
			t.Fatal(err)
		}
		id := uuid.MustParse(res.ID)
		if _, err := h.WarnChurn(ctx, scorer, id, w); err != nil {
			t.Fatal(err)
		}
		_, err = h.ClearChurn(ctx, scorer, id, strings.Repeat("r", domain.MaxLongText+1))
		if domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("reason too long: %v, want invalid", err)
		}
		if _, err := h.ClearChurn(ctx, scorer, uuid.New(), reason); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("unknown customer: %v, want not found", err)
		}
	})
}
