package domain

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// Fixed times and ids of the tests.
var (
	t0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	t1 = t0.Add(26 * time.Hour) // the next day
	t2 = t0.Add(72 * time.Hour)

	fixedZone = time.FixedZone("CET", 3600)

	custID  = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	cust2ID = uuid.MustParse("11111111-1111-4111-8111-222222222222")
	oppID   = uuid.MustParse("22222222-2222-4222-8222-222222222222")
	srID    = uuid.MustParse("33333333-3333-4333-8333-333333333333")
	ordID   = uuid.MustParse("44444444-4444-4444-8444-444444444444")
	contID  = uuid.MustParse("55555555-5555-4555-8555-555555555555")
	cont2ID = uuid.MustParse("55555555-5555-4555-8555-666666666666")
	intID   = uuid.MustParse("66666666-6666-4666-8666-666666666666")
	itemID  = uuid.MustParse("77777777-7777-4777-8777-777777777777")
	item2ID = uuid.MustParse("77777777-7777-4777-8777-888888888888")
)

func ptr[T any](v T) *T { return &v }

func dec(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// aggregate is what every aggregate offers the tests.
type aggregate interface {
	Apply(Event)
	Changes() []Event
}

// scenario is one given/when/then case: given stored events, when a command
// method runs, then it records exactly these events, or fails with this
// kind and these field names (and records nothing).
type scenario[A aggregate] struct {
	name   string
	given  []Event
	when   func(A) error
	then   []Event
	kind   Kind     // expected error kind; the zero value with then == nil and !noop means "expects an error of KindInternal"
	fields []string // expected FieldError names, in order (KindInvalid)
	noop   bool     // success that records nothing
}

func run[A aggregate](t *testing.T, fresh func() A, cases []scenario[A]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := fresh()
			for _, e := range tc.given {
				a.Apply(e)
			}
			err := tc.when(a)
			got := a.Changes()
			wantErr := tc.then == nil && !tc.noop
			switch {
			case wantErr && err == nil:
				t.Fatalf("want %v error, got none; recorded %#v", tc.kind, got)
			case !wantErr && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case wantErr:
				if k := KindOf(err); k != tc.kind {
					t.Errorf("error kind = %v, want %v (%v)", k, tc.kind, err)
				}
				var de *Error
				if !errors.As(err, &de) {
					t.Fatalf("error %T is not *domain.Error", err)
				}
				var names []string
				for _, f := range de.Fields {
					names = append(names, f.Field)
					if f.Message == "" {
						t.Errorf("field %s has no message", f.Field)
					}
				}
				if diff := cmp.Diff(tc.fields, names); diff != "" {
					t.Errorf("field names (-want +got):\n%s\n%v", diff, err)
				}
				if de.Message == "" {
					t.Error("error has no message")
				}
				if len(got) != 0 {
					t.Errorf("a refused command recorded %#v", got)
				}
			default:
				if diff := cmp.Diff(tc.then, got); diff != "" {
					t.Errorf("recorded events (-want +got):\n%s", diff)
				}
			}
			// Replaying given + recorded events onto a fresh aggregate must
			// reach the same state as the one that recorded them.
			// The events go through their stored JSON form first, so state
			// that would not survive storage is caught too.
			replayed := fresh()
			for _, e := range append(append([]Event(nil), tc.given...), got...) {
				replayed.Apply(viaJSON(t, e))
			}
			if diff := cmp.Diff(a, replayed, cmp.AllowUnexported(Customer{}, Opportunity{}, ServiceRequest{}, Order{}, Decimal{}),
				cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".changes" }, cmp.Ignore())); diff != "" {
				t.Errorf("state after recording differs from state after replay (-recorded +replayed):\n%s", diff)
			}
		})
	}
}

// plus returns a new slice: given followed by more (never aliasing given).
func plus(given []Event, more ...Event) []Event {
	out := make([]Event, 0, len(given)+len(more))
	return append(append(out, given...), more...)
}

// viaJSON returns e after a round trip through its stored JSON form,
// decoded the way the codec does (into the value EventType.New returns).
func viaJSON(t *testing.T, e Event) Event {
	t.Helper()
	et, ok := LookupEventType(e.EventType())
	if !ok {
		t.Fatalf("%T is not in EventTypes()", e)
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := et.New()
	p := reflect.New(reflect.TypeOf(tmpl))
	if err := json.Unmarshal(b, p.Interface()); err != nil {
		t.Fatalf("%s: %v", et.Name, err)
	}
	return p.Elem().Interface().(Event)
}
