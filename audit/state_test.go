package audit

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
)

// TestStateAsOf: the state at several past record times equals the
// customer rehydrated by hand from the events appended before that moment.
func TestStateAsOf(t *testing.T) {
	s := openStore(t)
	w := newWriter(t, s)
	lg := NewLog(LogConfig{Store: s, PageSize: 2})
	cid := uuid.NewSHA1(uuid.NameSpaceOID, []byte("asof"))
	stream := domain.CustomerStream(cid)

	// Phases of changes, with a moment between each (record time is the
	// server's clock: leave a little room on either side).
	reg := domain.NewCustomer()
	if err := reg.Register(cid, domain.RegisterCustomer{Profile: domain.Profile{Name: "Acme"}, Level: 1, OwnerID: "u1"}, t0); err != nil {
		t.Fatal(err)
	}
	phases := [][]domain.Event{
		reg.Changes(),
		{domain.CustomerLevelChanged{CustomerID: cid, From: 1, To: 3}, domain.ContactAdded{CustomerID: cid, ContactID: uuid.NewSHA1(cid, []byte("c")), Contact: domain.Contact{Name: "Ann"}}},
		{domain.CustomerOwnerAssigned{CustomerID: cid, PreviousOwnerID: "u1", OwnerID: "u2"}},
		{domain.CustomerCreditRated{CustomerID: cid, From: 0, To: 4}, domain.CustomerLevelChanged{CustomerID: cid, From: 3, To: 5}},
	}
	before := time.Now().UTC().Add(-time.Second)
	var moments []time.Time
	for _, ph := range phases {
		time.Sleep(15 * time.Millisecond)
		w.append(stream, ph...)
		time.Sleep(15 * time.Millisecond)
		moments = append(moments, time.Now().UTC())
	}

	t.Run("before registration", func(t *testing.T) {
		_, err := lg.StateAsOf(testContext(t), cid, before)
		if domain.KindOf(err) != domain.KindNotFound {
			t.Fatalf("state before the first event: %v, want KindNotFound", err)
		}
	})
	all, _, err := s.LoadStream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, at := range moments {
		n += len(phases[i])
		manual := domain.NewCustomer()
		for _, ph := range phases[:i+1] {
			for _, e := range ph {
				manual.Apply(e)
			}
		}
		var wantEvents []Event
		for _, r := range all[:n] {
			wantEvents = append(wantEvents, FromRecorded(r))
		}
		t.Run(at.Format(time.RFC3339Nano), func(t *testing.T) {
			got, err := lg.StateAsOf(testContext(t), cid, at)
			if err != nil {
				t.Fatal(err)
			}
			want := State{CustomerID: cid, AsOf: at, Revision: uint64(n - 1), Position: Position(all[n-1].Position),
				Customer: ViewOf(manual), Events: wantEvents}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("state as of phase %d (-want +got):\n%s", i, diff)
			}
		})
	}
	if _, err := lg.StateAsOf(testContext(t), uuid.New(), time.Now()); domain.KindOf(err) != domain.KindNotFound {
		t.Errorf("unknown customer: %v, want KindNotFound", err)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-03-01T09:30:00Z", time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC), true},
		{"2024-03-01T10:30:00.5+01:00", time.Date(2024, 3, 1, 9, 30, 0, 5e8, time.UTC), true},
		{"2024-03-01", time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), true},
		{"", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"2024-13-01", time.Time{}, false},
		{"2024-03-01 09:30", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if (err == nil) != tt.ok || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
