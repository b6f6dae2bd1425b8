package readmodels

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/projections"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// ---- fake Tx: in-memory, read-your-writes, Redis semantics for empty keys ----

type memTx struct {
	str  map[string]string
	zset map[string]map[string]float64
	set  map[string]map[string]bool
}

func newMemTx() *memTx {
	return &memTx{str: map[string]string{}, zset: map[string]map[string]float64{}, set: map[string]map[string]bool{}}
}

func (m *memTx) Get(_ context.Context, key string) (string, bool, error) {
	v, ok := m.str[key]
	return v, ok, nil
}
func (m *memTx) Set(key, value string) { m.del(key); m.str[key] = value }
func (m *memTx) Del(keys ...string) {
	for _, k := range keys {
		m.del(k)
	}
}
func (m *memTx) del(k string) { delete(m.str, k); delete(m.zset, k); delete(m.set, k) }
func (m *memTx) ZAdd(key string, score float64, member string) {
	if m.zset[key] == nil {
		m.zset[key] = map[string]float64{}
	}
	m.zset[key][member] = score
}
func (m *memTx) ZRem(key string, members ...string) {
	for _, x := range members {
		delete(m.zset[key], x)
	}
	if len(m.zset[key]) == 0 {
		delete(m.zset, key)
	}
}
func (m *memTx) SAdd(key string, members ...string) {
	if m.set[key] == nil {
		m.set[key] = map[string]bool{}
	}
	for _, x := range members {
		m.set[key][x] = true
	}
}
func (m *memTx) SRem(key string, members ...string) {
	for _, x := range members {
		delete(m.set[key], x)
	}
	if len(m.set[key]) == 0 {
		delete(m.set, key)
	}
}

// zrev returns a sorted set's members as ZREVRANGE does (score desc, then
// member desc).
func (m *memTx) zrev(key string) []string {
	var out []string
	for x := range m.zset[key] {
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := m.zset[key][out[i]], m.zset[key][out[j]]
		if a != b {
			return a > b
		}
		return out[i] > out[j]
	})
	return out
}

func (m *memTx) members(key string) []string {
	var out []string
	for x := range m.set[key] {
		out = append(out, x)
	}
	slices.Sort(out)
	return out
}

// dump is a canonical text form of every key (JSON documents indented).
func (m *memTx) dump(prefix string) []string {
	var lines []string
	for k, v := range m.str {
		var buf strings.Builder
		var x any
		if json.Unmarshal([]byte(v), &x) == nil {
			b, _ := json.MarshalIndent(x, "  ", "  ")
			buf.Write(b)
		} else {
			buf.WriteString(strconv.Quote(v))
		}
		lines = append(lines, prefix+k+" = "+buf.String())
	}
	for k, z := range m.zset {
		var ms []string
		for x, s := range z {
			ms = append(ms, fmt.Sprintf("%q:%s", x, strconv.FormatFloat(s, 'f', -1, 64)))
		}
		slices.Sort(ms)
		lines = append(lines, prefix+k+" zset "+strings.Join(ms, " "))
	}
	for k := range m.set {
		lines = append(lines, prefix+k+" set "+strings.Join(m.members(k), " "))
	}
	slices.Sort(lines)
	return lines
}

// store holds one memTx per projection, as the runtime's key prefixes do,
// and the projection instances (with their document caches) applying to it.
type store struct {
	m  map[string]*memTx
	ps []projections.Projection
	// docs: handlers get a DocTx (as from the runtime) that keeps their
	// documents decoded and checks that none is modified once stored.
	docs map[string]*docMemTx
	t    testing.TB
}

// withDocs makes the store hand out DocTxs (see docMemTx).
func (s *store) withDocs(t testing.TB) *store {
	s.docs, s.t = map[string]*docMemTx{}, t
	return s
}

// handleTx is the Tx a handler of p gets.
func (s *store) handleTx(p projections.Projection) projections.Tx {
	m := s.tx(p)
	if s.docs == nil {
		return m
	}
	d := s.docs[p.Name()]
	if d == nil || d.memTx != m {
		d = &docMemTx{memTx: m, t: s.t, docs: map[string]docRec{}}
		s.docs[p.Name()] = d
	}
	return d
}

// checkDocs fails the test when a stored document no longer encodes to
// what was stored (a handler changed it after SetDoc, or changed one Doc
// handed out).
func (s *store) checkDocs() {
	for _, d := range s.docs {
		for k := range d.docs {
			d.check(k)
		}
	}
}

// docMemTx is a memTx with the runtime's DocTx behaviour: documents stored
// with SetDoc are handed back by Doc. It records each document's encoding
// when stored, and check reports documents that changed since.
type docMemTx struct {
	*memTx
	t    testing.TB
	docs map[string]docRec
}

type docRec struct {
	doc projections.Doc
	enc string
}

var _ projections.DocTx = (*docMemTx)(nil)

func (d *docMemTx) SetDoc(key string, doc projections.Doc) {
	b, err := doc.AppendJSON(nil)
	if err != nil {
		d.t.Errorf("SetDoc %s: encode: %v", key, err)
	}
	d.memTx.Set(key, string(b))
	d.docs[key] = docRec{doc: doc, enc: string(b)}
}

func (d *docMemTx) Doc(key string) (projections.Doc, bool) {
	r, ok := d.docs[key]
	if !ok {
		return nil, false
	}
	d.check(key)
	return r.doc, true
}

func (d *docMemTx) check(key string) {
	d.t.Helper()
	r := d.docs[key]
	b, err := r.doc.AppendJSON(nil)
	if err != nil || string(b) != r.enc {
		d.t.Errorf("document %s changed after it was stored:\nstored %s\nnow    %s (%v)", key, r.enc, b, err)
	}
}

func (d *docMemTx) Set(key, value string) { delete(d.docs, key); d.memTx.Set(key, value) }
func (d *docMemTx) Del(keys ...string) {
	for _, k := range keys {
		delete(d.docs, k)
	}
	d.memTx.Del(keys...)
}

func newStore() *store { return &store{m: map[string]*memTx{}, ps: All()} }

// with returns a store over the same keys applied by other instances.
func (s *store) with(ps []projections.Projection) *store { return &store{m: s.m, ps: ps} }

func (s *store) tx(p projections.Projection) *memTx {
	if s.m[p.Name()] == nil {
		s.m[p.Name()] = newMemTx()
	}
	return s.m[p.Name()]
}

// snapshot returns a deep copy of the keys (what Redis held at a commit).
func (s *store) snapshot() map[string]*memTx {
	out := map[string]*memTx{}
	for name, m := range s.m {
		c := newMemTx()
		for k, v := range m.str {
			c.str[k] = v
		}
		for k, z := range m.zset {
			c.zset[k] = map[string]float64{}
			for x, sc := range z {
				c.zset[k][x] = sc
			}
		}
		for k, set := range m.set {
			c.set[k] = map[string]bool{}
			for x := range set {
				c.set[k][x] = true
			}
		}
		out[name] = c
	}
	return out
}

func (s *store) apply(t testing.TB, events []projections.Event) {
	t.Helper()
	for _, p := range s.ps {
		for _, e := range events {
			if !p.Handles(e.Type) {
				continue
			}
			if err := p.Handle(context.Background(), s.handleTx(p), e); err != nil {
				t.Fatalf("%s: %s at %s/%d: %v", p.Name(), e.Type, e.Stream, e.Revision, err)
			}
		}
	}
}

func (s *store) dump() []string {
	var out []string
	for _, p := range All() {
		if m := s.m[p.Name()]; m != nil {
			out = append(out, m.dump(fmt.Sprintf("%s:v%d:", p.Name(), p.Version()))...)
		}
	}
	return out
}

func (s *store) doc(t *testing.T, p projections.Projection, key string, v any) {
	t.Helper()
	found, err := projections.GetJSON(context.Background(), s.tx(p), key, v)
	if err != nil || !found {
		t.Fatalf("%s %s: found %v, err %v", p.Name(), key, found, err)
	}
}

// ---- events ----

type builder struct {
	pos    uint64
	revs   map[string]uint64
	events []projections.Event
}

func (b *builder) add(stream string, at time.Time, d domain.Event) {
	if b.revs == nil {
		b.revs = map[string]uint64{}
	}
	rev, seen := b.revs[stream]
	if seen {
		rev++
	}
	b.revs[stream] = rev
	b.pos += 100
	b.events = append(b.events, projections.Event{
		Position: b.pos, Stream: stream, Revision: rev, Type: d.EventType(),
		RecordedAt: at.Add(time.Minute), Meta: eventstore.Metadata{Actor: "u-admin", OccurredAt: at}, Data: d,
	})
}

func id(name string) uuid.UUID { return domain.DeriveID("readmodels-test", name) }
func idp(name string) *uuid.UUID {
	u := id(name)
	return &u
}
func dec(s string) domain.Decimal {
	d, err := domain.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}
func decp(s string) *domain.Decimal {
	d := dec(s)
	return &d
}
func day0(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 10, 0, 0, 0, time.UTC) }

var (
	custA, custB = id("A"), id("B")
	opp1, opp2   = id("O1"), id("O2")
	opp3         = id("O3")
	custC        = domain.CustomerIDForOpportunity(opp2)
	svc1, svc2   = id("S1"), id("S2")
	ord1, ord2   = id("R1"), id("R2")
	ord3         = id("R3")
	contactA     = id("A-contact")
)

// scenario is a representative history touching every read model.
func scenario() []projections.Event {
	var b builder
	cs := domain.CustomerStream
	b.add(cs(custA), day0(2025, 11, 1), domain.CustomerRegistered{CustomerID: custA,
		Profile: domain.Profile{Name: "Acme Trading Ltd", Region: "North", Industry: "retail"}, Level: 3, OwnerID: "u-sales1",
		RegisteredAt: day0(2025, 11, 1)})
	b.add(cs(custB), day0(2025, 11, 2), domain.CustomerRegistered{CustomerID: custB,
		Profile: domain.Profile{Name: "Blue Sky GmbH", Region: "South"}, Level: 1, Credit: 2, OwnerID: "u-sales2",
		RegisteredAt: day0(2025, 11, 2)})
	b.add(cs(custA), day0(2025, 11, 3), domain.ContactAdded{CustomerID: custA, ContactID: contactA,
		Contact: domain.Contact{Name: "Jane Roe", Email: "jane@acme.test"}})
	b.add(cs(custA), day0(2025, 11, 4), domain.ContactChanged{CustomerID: custA, ContactID: contactA,
		Changes: []domain.FieldChange{{Field: "title", To: "buyer"}}, Contact: domain.Contact{Name: "Jane Roe", Title: "buyer", Email: "jane@acme.test"}})
	b.add(cs(custA), day0(2025, 11, 5), domain.InteractionLogged{CustomerID: custA, InteractionID: id("I1"),
		Channel: domain.ChannelVisit, OccurredAt: day0(2025, 11, 4), Summary: "Showroom visit", ContactID: &contactA})
	b.add(cs(custA), day0(2025, 11, 6), domain.CustomerProfileChanged{CustomerID: custA,
		Changes: []domain.FieldChange{{Field: "name", From: "Acme Trading Ltd", To: "Acme Holdings"}, {Field: "region", From: "North", To: "West"}},
		Profile: domain.Profile{Name: "Acme Holdings", Region: "West", Industry: "retail"}})
	b.add(cs(custA), day0(2025, 11, 7), domain.CustomerLevelChanged{CustomerID: custA, From: 3, To: 4})
	b.add(cs(custA), day0(2025, 11, 7), domain.CustomerCreditRated{CustomerID: custA, To: 5})
	b.add(cs(custA), day0(2025, 11, 7), domain.CustomerSatisfactionRated{CustomerID: custA, To: 4})
	b.add(cs(custA), day0(2025, 11, 8), domain.CustomerOwnerAssigned{CustomerID: custA, PreviousOwnerID: "u-sales1", OwnerID: "u-sales3"})

	os := domain.OpportunityStream
	b.add(os(opp1), day0(2025, 11, 10), domain.OpportunityCreated{OpportunityID: opp1, CustomerID: &custA, Title: "Spring range",
		SuccessRate: 60, ExpectedValue: decp("1000.00"), Currency: "EUR", CreatedBy: "u-sales3", CreatedAt: day0(2025, 11, 10)})
	b.add(os(opp1), day0(2025, 11, 11), domain.OpportunityAssigned{OpportunityID: opp1, CustomerID: &custA, AssigneeID: "u-sales3", AssignedAt: day0(2025, 11, 11)})
	b.add(os(opp1), day0(2025, 11, 12), domain.PlanItemAdded{OpportunityID: opp1, CustomerID: &custA, ItemID: id("P1"), DueDate: day0(2025, 11, 20), Action: "Send samples"})
	b.add(os(opp1), day0(2025, 11, 21), domain.PlanItemResultRecorded{OpportunityID: opp1, CustomerID: &custA, ItemID: id("P1"), Result: "Samples liked", RecordedAt: day0(2025, 11, 21)})
	b.add(os(opp1), day0(2025, 11, 30), domain.OpportunityWon{OpportunityID: opp1, CustomerID: custA, Amount: decp("900.00"), Currency: "EUR",
		AssigneeID: "u-sales3", WonAt: day0(2025, 11, 30)})

	b.add(os(opp2), day0(2025, 11, 12), domain.OpportunityCreated{OpportunityID: opp2, Prospect: &domain.Prospect{Name: "Cobalt Inc", ContactName: "Max"},
		Title: "First order", SuccessRate: 30, ExpectedValue: decp("500"), Currency: "GBP", CreatedAt: day0(2025, 11, 12)})
	b.add(os(opp2), day0(2025, 11, 13), domain.OpportunityAssigned{OpportunityID: opp2, AssigneeID: "u-sales1", AssignedAt: day0(2025, 11, 13)})
	b.add(os(opp2), day0(2025, 11, 14), domain.OpportunityChanged{OpportunityID: opp2, Changes: []domain.FieldChange{{Field: "expectedValue", From: "500", To: "750"}},
		Details: domain.OpportunityDetails{Title: "First order", SuccessRate: 40, ExpectedValue: decp("750"), Currency: "GBP", Prospect: &domain.Prospect{Name: "Cobalt Inc", ContactName: "Max"}}})
	b.add(os(opp2), day0(2025, 11, 22), domain.OpportunityWon{OpportunityID: opp2, CustomerID: custC, NewCustomer: true, AssigneeID: "u-sales1", WonAt: day0(2025, 11, 22)})
	b.add(cs(custC), day0(2025, 11, 22), domain.CustomerRegistered{CustomerID: custC, Profile: domain.Profile{Name: "Cobalt Inc"}, Level: 2,
		OwnerID: "u-sales1", OpportunityID: &opp2, RegisteredAt: day0(2025, 11, 22)})

	b.add(os(opp3), day0(2025, 12, 1), domain.OpportunityCreated{OpportunityID: opp3, CustomerID: &custB, Title: "Upsell", SuccessRate: 10, CreatedAt: day0(2025, 12, 1)})
	b.add(os(opp3), day0(2025, 12, 5), domain.OpportunityLost{OpportunityID: opp3, CustomerID: &custB, Reason: "budget", PreviousStatus: domain.OpportunityStatusUnassigned, LostAt: day0(2025, 12, 5)})

	ss := domain.ServiceStream
	b.add(ss(svc1), day0(2025, 12, 2), domain.ServiceRequestOpened{ServiceRequestID: svc1, CustomerID: custA, Type: domain.ServiceComplaint, Channel: "email",
		Title: "Late delivery", Request: "Order came late", OpenedAt: day0(2025, 12, 2)})
	b.add(ss(svc1), day0(2025, 12, 2), domain.ServiceRequestAssigned{ServiceRequestID: svc1, CustomerID: custA, AssigneeID: "u-svc1", AssignedAt: day0(2025, 12, 2)})
	b.add(ss(svc1), day0(2025, 12, 3), domain.ServiceRequestHandled{ServiceRequestID: svc1, CustomerID: custA, Handling: "Apologised", HandledBy: "u-svc1", HandledAt: day0(2025, 12, 3)})
	b.add(ss(svc1), day0(2025, 12, 4), domain.ServiceFeedbackRecorded{ServiceRequestID: svc1, CustomerID: custA, Result: "Not enough", Satisfaction: 2, RecordedAt: day0(2025, 12, 4)})
	b.add(ss(svc1), day0(2025, 12, 4), domain.ServiceRequestReopened{ServiceRequestID: svc1, CustomerID: custA, AssigneeID: "u-svc1", Satisfaction: 2, ReopenedAt: day0(2025, 12, 4)})
	b.add(ss(svc1), day0(2025, 12, 5), domain.ServiceRequestHandled{ServiceRequestID: svc1, CustomerID: custA, Handling: "Voucher sent", HandledBy: "u-svc1", HandledAt: day0(2025, 12, 5)})
	b.add(ss(svc1), day0(2025, 12, 6), domain.ServiceFeedbackRecorded{ServiceRequestID: svc1, CustomerID: custA, Result: "Fine", Satisfaction: 4, RecordedAt: day0(2025, 12, 6)})
	b.add(ss(svc1), day0(2025, 12, 6), domain.ServiceRequestArchived{ServiceRequestID: svc1, CustomerID: custA, Satisfaction: 4, ArchivedAt: day0(2025, 12, 6)})
	b.add(ss(svc2), day0(2026, 1, 3), domain.ServiceRequestOpened{ServiceRequestID: svc2, CustomerID: custB, Type: domain.ServiceConsultation,
		Title: "Catalogue", Request: "Send the catalogue", OpenedAt: day0(2026, 1, 3)})

	rs := domain.OrderStream
	lines := []domain.OrderLine{{SKU: "X1", Quantity: dec("3"), UnitPrice: dec("30.00"), Amount: dec("90.00")}, {SKU: "X2", Quantity: dec("1"), UnitPrice: dec("10.50"), Amount: dec("10.50")}}
	b.add(rs(ord1), day0(2025, 12, 10), domain.OrderPlaced{OrderID: ord1, CustomerID: custA, OrderNo: "536365", OrderedAt: day0(2025, 12, 10), Currency: "GBP", Lines: lines, Total: dec("100.50")})
	b.add(rs(ord1), day0(2025, 12, 11), domain.OrderShipped{OrderID: ord1, CustomerID: custA, Carrier: "DHL", TrackingNo: "T1", ShippedAt: day0(2025, 12, 11)})
	b.add(rs(ord1), day0(2025, 12, 12), domain.OrderDelivered{OrderID: ord1, CustomerID: custA, DeliveredAt: day0(2025, 12, 12)})
	b.add(rs(ord1), day0(2025, 12, 13), domain.PaymentReceived{OrderID: ord1, CustomerID: custA, Amount: dec("100.50"), Currency: "GBP", PaidTotal: dec("100.50"), FullyPaid: true, ReceivedAt: day0(2025, 12, 13)})
	b.add(rs(ord1), day0(2026, 1, 5), domain.OrderReturned{OrderID: ord1, CustomerID: custA, ReturnNo: 1, Lines: []domain.ReturnLine{{SKU: "X1", Quantity: dec("1"), Amount: dec("30.00")}},
		Amount: dec("30.00"), Currency: "GBP", Reason: "damaged", ReturnedTotal: dec("30.00"), ReturnedAt: day0(2026, 1, 5)})
	b.add(rs(ord2), day0(2026, 1, 8), domain.OrderPlaced{OrderID: ord2, CustomerID: custA, OrderNo: "536366", OrderedAt: day0(2026, 1, 8), Currency: "GBP",
		Lines: []domain.OrderLine{{SKU: "X3", Quantity: dec("2"), UnitPrice: dec("25"), Amount: dec("50")}}, Total: dec("50")})
	b.add(rs(ord2), day0(2026, 1, 9), domain.OrderCancelled{OrderID: ord2, CustomerID: custA, Reason: "duplicate", PreviousStatus: domain.OrderStatusPlaced, Total: dec("50"), Currency: "GBP", CancelledAt: day0(2026, 1, 9)})
	b.add(rs(ord3), day0(2026, 1, 10), domain.OrderPlaced{OrderID: ord3, CustomerID: custB, OrderedAt: day0(2026, 1, 10), Currency: "EUR",
		Lines: []domain.OrderLine{{SKU: "Y1", Quantity: dec("1"), UnitPrice: dec("10"), Amount: dec("10")}}, Total: dec("10")})

	score := 81
	b.add(cs(custB), day0(2026, 1, 15), domain.ChurnWarningRaised{CustomerID: custB, Why: domain.ChurnWhyScore, Score: &score,
		Signals: []domain.ChurnSignal{{Signal: "recency", Contribution: 40, Detail: "no order for 212 days"}}, PreviousStatus: domain.CustomerStatusActive, RaisedAt: day0(2026, 1, 15)})
	b.add(cs(custB), day0(2026, 1, 16), domain.ChurnDeferred{CustomerID: custB, Measure: "Call with discount", DeferredAt: day0(2026, 1, 16)})
	b.add(cs(custB), day0(2026, 2, 1), domain.ChurnConfirmed{CustomerID: custB, Reason: "moved to competitor", PreviousStatus: domain.CustomerStatusAtRisk, ConfirmedAt: day0(2026, 2, 1)})
	b.add(cs(custA), day0(2026, 2, 2), domain.ContactRemoved{CustomerID: custA, ContactID: contactA, Name: "Jane Roe"})
	return b.events
}

// ---- tests ----

func TestGoldenDump(t *testing.T) {
	s := newStore()
	s.apply(t, scenario())
	got := strings.Join(s.dump(), "\n") + "\n"
	path := filepath.Join("testdata", "scenario.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("dump differs from %s (-want +got; -update rewrites it):\n%s", path, diff)
	}
}

func TestReplaySafety(t *testing.T) {
	events := scenario()
	clean := newStore()
	clean.apply(t, events)
	want := clean.dump()

	t.Run("documents kept decoded", func(t *testing.T) {
		// Through a DocTx (the runtime's path): the same keys, and no
		// handler changes a document once stored or handed back.
		s := newStore().withDocs(t)
		s.apply(t, events)
		s.checkDocs()
		if diff := cmp.Diff(want, s.dump()); diff != "" {
			t.Errorf("DocTx pass differs (-Tx +DocTx):\n%s", diff)
		}
		for k := 0; k <= len(events); k += 3 {
			r := newStore().withDocs(t)
			r.apply(t, events[:k])
			r.apply(t, events)
			r.checkDocs()
			if diff := cmp.Diff(want, r.dump()); diff != "" {
				t.Errorf("DocTx, prefix %d then whole sequence differs (-clean +replayed):\n%s", k, diff)
			}
		}
	})
	t.Run("twice from clean", func(t *testing.T) {
		s := newStore()
		s.apply(t, events)
		if diff := cmp.Diff(want, s.dump()); diff != "" {
			t.Errorf("second clean pass differs (-first +second):\n%s", diff)
		}
		// Without document caches (zero values): the same keys.
		s0 := newStore().with([]projections.Projection{Customers{}, Timeline{}, Opportunities{}, Service{}, Orders{}, Reports{}})
		s0.apply(t, events)
		if diff := cmp.Diff(want, s0.dump()); diff != "" {
			t.Errorf("uncached pass differs (-cached +uncached):\n%s", diff)
		}
		// A rebuild into empty keys by the same instances (warm caches).
		s2 := newStore().with(s.ps)
		s2.apply(t, events)
		if diff := cmp.Diff(want, s.dump()); diff != "" {
			t.Errorf("second clean pass differs (-first +second):\n%s", diff)
		}
	})
	for k := 0; k <= len(events); k++ {
		t.Run(fmt.Sprintf("resume at %d", k), func(t *testing.T) {
			s := newStore()
			s.apply(t, events[:k])
			s.apply(t, events[k:])
			if diff := cmp.Diff(want, s.dump()); diff != "" {
				t.Errorf("prefix then rest differs from one pass (-clean +resumed):\n%s", diff)
			}
		})
		t.Run(fmt.Sprintf("rolled back batch at %d", k), func(t *testing.T) {
			// The instances' document caches run ahead of what was
			// committed: the next batch must see only the committed keys.
			s := newStore()
			s.apply(t, events[:k])
			committed := s.snapshot()
			s.apply(t, events[k:min(k+7, len(events))])
			s.m = committed
			s.apply(t, events[k:])
			if diff := cmp.Diff(want, s.dump()); diff != "" {
				t.Errorf("rollback then rest differs from one pass (-clean +resumed):\n%s", diff)
			}
		})
		t.Run(fmt.Sprintf("redelivered after %d", k), func(t *testing.T) {
			s := newStore()
			s.apply(t, events[:k])
			s.apply(t, events) // the prefix again, then the rest
			if diff := cmp.Diff(want, s.dump()); diff != "" {
				t.Errorf("prefix then whole sequence differs from one pass (-clean +replayed):\n%s", diff)
			}
		})
	}
}

func TestCustomers(t *testing.T) {
	s := newStore()
	s.apply(t, scenario())
	p := Customers{}
	var a, b, c Customer
	s.doc(t, p, CustomerKey(custA.String()), &a)
	s.doc(t, p, CustomerKey(custB.String()), &b)
	s.doc(t, p, CustomerKey(custC.String()), &c)

	tests := []struct {
		name string
		got  any
		want any
	}{
		{"A name", a.Name, "Acme Holdings"},
		{"A region", a.Region, "West"},
		{"A level", []any{a.Level, a.LevelName, a.Credit, a.Satisfaction}, []any{4, "partner", 5, 4}},
		{"A owner", a.OwnerID, "u-sales3"},
		{"A contacts (removed)", a.Contacts, []Contact{}},
		{"A kpis", a.KPIs, CustomerKPIs{
			Orders: 2, CancelledOrders: 1, Revenue: Amounts{{Amount: dec("70.50"), Currency: "GBP"}},
			LastOrderAt: tptr(day0(2025, 12, 10)), LastOrderID: ord1.String(), Interactions: 1, LastInteractionAt: tptr(day0(2025, 11, 4)), // ord2 (2026-01-08) was cancelled
			OpenServiceRequests: 0, Complaints: 1, OpenOpportunities: 0, WonOpportunities: 1,
		}},
		{"B status", b.Status, "lost"},
		{"B churn", b.Churn, &ChurnState{Why: "score", Score: b.Churn.Score, Signals: []domain.ChurnSignal{{Signal: "recency", Contribution: 40, Detail: "no order for 212 days"}},
			RaisedAt: tptr(day0(2026, 1, 15)), Deferrals: 1, LastMeasure: "Call with discount", LastDeferredAt: tptr(day0(2026, 1, 16)),
			ConfirmedAt: tptr(day0(2026, 2, 1)), Reason: "moved to competitor", Warnings: 1}},
		{"B kpis", b.KPIs, CustomerKPIs{Orders: 1, Revenue: Amounts{{Amount: dec("10"), Currency: "EUR"}}, LastOrderAt: tptr(day0(2026, 1, 10)),
			LastOrderID: ord3.String(), OpenServiceRequests: 1, LostOpportunities: 1}},
		{"C from won prospect", []any{c.Registered, c.OpportunityID, c.KPIs.WonOpportunities, c.KPIs.OpenOpportunities}, []any{true, opp2.String(), 1, 0}},
		{"byName order", s.tx(p).zrevNames(), []string{"cobalt inc", "blue sky gmbh", "acme holdings"}},
		{"level 4", s.tx(p).members(CustomerLevelKey(4)), []string{custA.String()}},
		{"level 3 emptied", s.tx(p).members(CustomerLevelKey(3)), []string(nil)},
		{"region west", s.tx(p).members(CustomerRegionKey("WEST")), []string{custA.String()}},
		{"region north emptied", s.tx(p).members(CustomerRegionKey("north")), []string(nil)},
		{"owner u-sales1", s.tx(p).members(CustomerOwnerKey("u-sales1")), []string{custC.String()}},
		{"status lost", s.tx(p).members(CustomerStatusKey("lost")), []string{custB.String()}},
		{"status active", s.tx(p).members(CustomerStatusKey("active")), sorted(custA.String(), custC.String())},
		{"search 'hol'", s.tx(p).members(CustomerSearchKey("hol")), []string{custA.String()}},
		{"search 'tra' (old name) gone", s.tx(p).members(CustomerSearchKey("tra")), []string(nil)},
		{"search 'sky'", s.tx(p).members(CustomerSearchKey("Sky")), []string{custB.String()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// zrevNames returns the names of the byName index, newest-last order reversed.
func (m *memTx) zrevNames() []string {
	var out []string
	for _, x := range m.zrev(CustomerNameIndexKey) {
		name, _, _ := strings.Cut(x, "\x00")
		out = append(out, name)
	}
	return out
}

func TestTimeline(t *testing.T) {
	s := newStore()
	events := scenario()
	s.apply(t, events)
	p := Timeline{}
	m := s.tx(p)
	item := func(member string) TimelineItem {
		var it TimelineItem
		pos, _ := strconv.ParseUint(member, 10, 64)
		s.doc(t, p, TimelineItemKey(pos), &it)
		return it
	}
	types := func(key string) []string {
		var out []string
		for _, x := range m.zrev(key) {
			out = append(out, item(x).Type)
		}
		return out
	}
	tests := []struct {
		name string
		key  string
		want []string
	}{
		{"C: prospect's opportunity attributed after the win", TimelineKey(custC.String(), ""), []string{
			"CustomerRegistered", "OpportunityWon", "OpportunityChanged", "OpportunityAssigned", "OpportunityCreated"}},
		{"B churn kind", TimelineKey(custB.String(), KindChurn), []string{"ChurnConfirmed", "ChurnDeferred", "ChurnWarningRaised"}},
		{"A orders newest first", TimelineKey(custA.String(), KindOrder), []string{
			"OrderCancelled", "OrderPlaced", "OrderReturned", "PaymentReceived", "OrderDelivered", "OrderShipped", "OrderPlaced"}},
		{"A interactions", TimelineKey(custA.String(), KindInteraction), []string{"InteractionLogged"}},
		{"A service", TimelineKey(custA.String(), KindService), []string{
			"ServiceRequestArchived", "ServiceFeedbackRecorded", "ServiceRequestHandled", "ServiceRequestReopened",
			"ServiceFeedbackRecorded", "ServiceRequestHandled", "ServiceRequestAssigned", "ServiceRequestOpened"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, types(tt.key)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// Every event of the scenario is on exactly one customer's timeline.
	total := 0
	for _, c := range []uuid.UUID{custA, custB, custC} {
		total += len(m.zset[TimelineKey(c.String(), "")])
	}
	if total != len(events) {
		t.Errorf("timelines hold %d items, want %d", total, len(events))
	}
	// The interaction is placed at its own occurred time, with its fields.
	it := item(m.zrev(TimelineKey(custA.String(), KindInteraction))[0])
	want := TimelineItem{CustomerID: custA.String(), Kind: KindInteraction, Type: "InteractionLogged", OccurredAt: day0(2025, 11, 4),
		RecordedAt: day0(2025, 11, 5).Add(time.Minute), Stream: domain.CustomerStream(custA), Revision: 3, Position: 500,
		Summary: "visit: Showroom visit", Actor: "u-admin"}
	if diff := cmp.Diff(want, it); diff != "" {
		t.Errorf("interaction item (-want +got):\n%s", diff)
	}
	var st TimelineStream
	s.doc(t, p, TimelineStreamKey(domain.OpportunityStream(opp2)), &st)
	if diff := cmp.Diff(TimelineStream{CustomerID: custC.String()}, st); diff != "" {
		t.Errorf("stream map (-want +got):\n%s", diff)
	}
}

func TestOpportunities(t *testing.T) {
	s := newStore()
	s.apply(t, scenario())
	p := Opportunities{}
	var pl Pipeline
	s.doc(t, p, PipelineKey, &pl)
	want := Pipeline{
		ByStatus: map[string]Bucket{
			"won":  {Count: 2, Value: Amounts{{Amount: dec("900.00"), Currency: "EUR"}, {Amount: dec("750"), Currency: "GBP"}}},
			"lost": {Count: 1},
		},
		ByAssignee: map[string]map[string]Bucket{
			"u-sales1": {"won": {Count: 1, Value: Amounts{{Amount: dec("750"), Currency: "GBP"}}}},
			"u-sales3": {"won": {Count: 1, Value: Amounts{{Amount: dec("900.00"), Currency: "EUR"}}}},
		},
		Won: 2, Lost: 1, WinRate: 2.0 / 3, TimeToWinSeconds: 30 * 86400, AvgDaysToWin: 15,
	}
	if diff := cmp.Diff(want, pl); diff != "" {
		t.Errorf("pipeline (-want +got):\n%s", diff)
	}
	var o2 Opportunity
	s.doc(t, p, OpportunityKey(opp2.String()), &o2)
	if o2.CustomerID != custC.String() || !o2.NewCustomer || o2.Status != "won" || o2.ExpectedValue.String() != "750" {
		t.Errorf("opportunity 2: %+v", o2)
	}
	var o1 Opportunity
	s.doc(t, p, OpportunityKey(opp1.String()), &o1)
	wantPlan := []PlanItem{{ID: id("P1").String(), DueDate: day0(2025, 11, 20), Action: "Send samples", Result: "Samples liked", ResultAt: tptr(day0(2025, 11, 21))}}
	if diff := cmp.Diff(wantPlan, o1.Plan); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	m := s.tx(p)
	for _, tt := range []struct {
		key  string
		want []string
	}{
		{OpportunityStatusKey("won"), []string{opp2.String(), opp1.String()}},
		{OpportunityStatusKey("lost"), []string{opp3.String()}},
		{OpportunityStatusKey("assigned"), nil},
		{OpportunityAssigneeKey("u-sales3"), []string{opp1.String()}},
		{OpportunityCustomerKey(custB.String()), []string{opp3.String()}},
		{OpportunityAllKey, []string{opp3.String(), opp2.String(), opp1.String()}},
	} {
		if diff := cmp.Diff(tt.want, m.zrev(tt.key)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.key, diff)
		}
	}
}

func TestServiceQueue(t *testing.T) {
	s := newStore()
	s.apply(t, scenario())
	p := Service{}
	var r25, r26 ServiceReport
	s.doc(t, p, ServiceReportKey("2025"), &r25)
	s.doc(t, p, ServiceReportKey("2026"), &r26)
	tests := []struct {
		name      string
		got, want any
	}{
		{"2025", r25, ServiceReport{Year: "2025", Total: 1, ByType: map[string]int{"complaint": 1}, ByStatus: map[string]int{"archived": 1},
			ByChannel: map[string]int{"email": 1}, Feedbacks: 2, SatisfactionSum: 6, AvgSatisfaction: 3, Reopened: 1}},
		{"2026", r26, ServiceReport{Year: "2026", Total: 1, ByType: map[string]int{"consultation": 1}, ByStatus: map[string]int{"created": 1}}},
		{"years", s.tx(p).members(ServiceYearsKey), []string{"2025", "2026"}},
		{"archived", s.tx(p).zrev(ServiceStatusKey("archived")), []string{svc1.String()}},
		{"assigned emptied", s.tx(p).zrev(ServiceStatusKey("assigned")), []string(nil)},
		{"assignee", s.tx(p).zrev(ServiceAssigneeKey("u-svc1")), []string{svc1.String()}},
		{"type", s.tx(p).zrev(ServiceTypeKey("consultation")), []string{svc2.String()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	var sr ServiceRequest
	s.doc(t, p, ServiceRequestKey(svc1.String()), &sr)
	if sr.Status != "archived" || sr.Reopened != 1 || len(sr.Feedback) != 2 || sr.Satisfaction != 4 || sr.Handling != "Voucher sent" {
		t.Errorf("service request: %+v", sr)
	}
}

func TestOrdersAndContribution(t *testing.T) {
	s := newStore()
	s.apply(t, scenario())
	p := Orders{}
	var a25, a26 Contribution
	var y26 YearContribution
	var o1 Order
	s.doc(t, p, ContributionKey("2025", custA.String()), &a25)
	s.doc(t, p, ContributionKey("2026", custA.String()), &a26)
	s.doc(t, p, ContributionYearKey("2026"), &y26)
	s.doc(t, p, OrderKey(ord1.String()), &o1)
	gbp := func(v string) Amounts { return Amounts{{Amount: dec(v), Currency: "GBP"}} }
	tests := []struct {
		name      string
		got, want any
	}{
		{"A 2025", a25, Contribution{CustomerID: custA.String(), Year: "2025", Orders: 1, Placed: gbp("100.50"), Net: gbp("100.50")}},
		{"A 2026", a26, Contribution{CustomerID: custA.String(), Year: "2026", Orders: 1, Cancelled: 1, Returns: 1,
			Placed: gbp("50"), Cancels: gbp("50"), Returned: gbp("30.00"), Net: gbp("-30.00")}},
		{"2026 totals", y26, YearContribution{Year: "2026", Customers: 2, Orders: 2,
			Net: Amounts{{Amount: dec("10"), Currency: "EUR"}, {Amount: dec("-30"), Currency: "GBP"}}}},
		{"order 1 net", []string{o1.Status, o1.Net.String(), o1.Paid.String(), o1.Returned.String()}, []string{"delivered", "70.50", "100.50", "30.00"}},
		{"A orders newest first", s.tx(p).zrev(OrderCustomerKey(custA.String())), []string{ord2.String(), ord1.String()}},
		{"ranking 2026 GBP", s.tx(p).zset[ContributionRankingKey("2026", "GBP")], map[string]float64{custA.String(): -30}},
		{"years", s.tx(p).members(ContributionYearsKey), []string{"2025", "2026"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestReports(t *testing.T) {
	s := newStore()
	s.apply(t, scenario())
	p := Reports{}
	var comp Composition
	var ch ChurnReport
	var ov Overview
	s.doc(t, p, CompositionKey, &comp)
	s.doc(t, p, ChurnReportKey, &ch)
	s.doc(t, p, OverviewKey, &ov)
	tests := []struct {
		name      string
		got, want any
	}{
		{"composition", comp, Composition{Total: 3, ByLevel: map[string]int{"1": 1, "2": 1, "4": 1}, ByCredit: map[string]int{"0": 1, "2": 1, "5": 1},
			BySatisfaction: map[string]int{"0": 2, "4": 1}, ByRegion: map[string]int{"West": 1, "South": 1, UnknownRegion: 1},
			ByStatus: map[string]int{"active": 2, "lost": 1}}},
		{"churn", ch, ChurnReport{Raised: 1, RaisedByScore: 1, Deferred: 1, Confirmed: 1, Lost: 1,
			ByMonth: map[string]ChurnMonth{"2026-01": {Raised: 1, Deferred: 1}, "2026-02": {Confirmed: 1}}}},
		{"overview", ov, Overview{
			AsOf: tptr(day0(2026, 2, 2)), ThisMonth: "2026-02", Customers: 3, CustomersByStatus: map[string]int{"active": 2, "lost": 1},
			WonOpportunities:    Bucket{Count: 2, Value: Amounts{{Amount: dec("900.00"), Currency: "EUR"}, {Amount: dec("750"), Currency: "GBP"}}},
			OpenServiceRequests: 1, Orders: 3, Revenue: Amounts{{Amount: dec("10"), Currency: "EUR"}, {Amount: dec("70.50"), Currency: "GBP"}},
			OrdersByMonth: map[string]OrderMonth{
				"2025-12": {Orders: 1, Placed: Amounts{{Amount: dec("100.50"), Currency: "GBP"}}, Net: Amounts{{Amount: dec("100.50"), Currency: "GBP"}}},
				"2026-01": {Orders: 2, Cancelled: 1, Placed: Amounts{{Amount: dec("10"), Currency: "EUR"}, {Amount: dec("50"), Currency: "GBP"}},
					Net: Amounts{{Amount: dec("10"), Currency: "EUR"}, {Amount: dec("-30"), Currency: "GBP"}}},
			},
			InteractionsByMonth: map[string]int{"2025-11": 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// The open opportunity value follows changes and closes.
func TestOverviewOpenOpportunities(t *testing.T) {
	var b builder
	os := domain.OpportunityStream
	b.add(os(opp1), day0(2025, 1, 1), domain.OpportunityCreated{OpportunityID: opp1, CustomerID: &custA, Title: "x", ExpectedValue: decp("100"), Currency: "EUR", CreatedAt: day0(2025, 1, 1)})
	b.add(os(opp2), day0(2025, 1, 2), domain.OpportunityCreated{OpportunityID: opp2, CustomerID: &custA, Title: "y", ExpectedValue: decp("5.5"), Currency: "EUR", CreatedAt: day0(2025, 1, 2)})
	b.add(os(opp1), day0(2025, 1, 3), domain.OpportunityChanged{OpportunityID: opp1, CustomerID: &custA, Details: domain.OpportunityDetails{Title: "x", ExpectedValue: decp("120"), Currency: "EUR"}})
	steps := []Bucket{
		{Count: 1, Value: Amounts{{Amount: dec("100"), Currency: "EUR"}}},
		{Count: 2, Value: Amounts{{Amount: dec("105.5"), Currency: "EUR"}}},
		{Count: 2, Value: Amounts{{Amount: dec("125.5"), Currency: "EUR"}}},
	}
	s := newStore()
	for i, e := range b.events {
		s.apply(t, b.events[i:i+1])
		var ov Overview
		s.doc(t, Reports{}, OverviewKey, &ov)
		if diff := cmp.Diff(steps[i], ov.OpenOpportunities); diff != "" {
			t.Errorf("after %s (-want +got):\n%s", e.Type, diff)
		}
	}
}

func TestHandlesAndErrors(t *testing.T) {
	for _, et := range domain.EventTypes() {
		if !(Timeline{}).Handles(et.Name) {
			t.Errorf("%s is not on the timeline", et.Name)
		}
	}
	if (Orders{}).Handles(domain.TypeCustomerRegistered) || (Service{}).Handles(domain.TypeOrderPlaced) {
		t.Error("orders/service handle foreign events")
	}
	names := map[string]bool{}
	for _, p := range All() {
		if names[p.Name()] {
			t.Errorf("duplicate projection name %s", p.Name())
		}
		names[p.Name()] = true
	}
	// A pointer event is accepted like its value.
	s := newStore()
	e := scenario()[0]
	v := e.Data.(domain.CustomerRegistered)
	e.Data = &v
	s.apply(t, []projections.Event{e})
	var c Customer
	s.doc(t, Customers{}, CustomerKey(custA.String()), &c)
	if c.Name != "Acme Trading Ltd" {
		t.Errorf("pointer event: %+v", c)
	}
	// Out-of-order or mismatched data is a permanent failure, not a skip.
	bad := []struct {
		p projections.Projection
		e projections.Event
	}{
		{Orders{}, projections.Event{Stream: domain.OrderStream(ord1), Type: domain.TypeOrderShipped, Data: domain.OrderShipped{OrderID: ord1}}},
		{Service{}, projections.Event{Stream: domain.ServiceStream(svc1), Type: domain.TypeServiceRequestHandled, Data: domain.ServiceRequestHandled{}}},
		{Opportunities{}, projections.Event{Stream: domain.OpportunityStream(opp1), Type: domain.TypeOpportunityWon, Data: domain.OpportunityWon{}}},
		{Customers{}, projections.Event{Stream: domain.CustomerStream(custA), Type: domain.TypeCustomerRegistered, Data: domain.OrderShipped{}}},
		{Opportunities{}, projections.Event{Stream: "weird", Type: domain.TypeOpportunityCreated, Data: domain.OpportunityCreated{}}},
	}
	for _, tt := range bad {
		err := tt.p.Handle(context.Background(), newMemTx(), tt.e)
		if !errors.Is(err, projections.ErrPermanent) {
			t.Errorf("%s %s: err %v, want ErrPermanent", tt.p.Name(), tt.e.Type, err)
		}
	}
	// A corrupt document is a permanent failure too.
	m := newMemTx()
	m.Set(OrderKey(ord1.String()), "{not json")
	if err := (Orders{}).Handle(context.Background(), m, scenario()[31]); !errors.Is(err, projections.ErrPermanent) {
		t.Errorf("corrupt doc: %v", err)
	}
}

func TestSearchPrefixes(t *testing.T) {
	got := searchPrefixes("Ünïon-Co 42")
	want := []string{"ü", "ün", "ünï", "ünïo", "ünïon", "c", "co", "4", "42"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	long := searchPrefixes("abcdefghijklmnopqrstuvwxyz")
	if len(long) != MaxSearchPrefix {
		t.Errorf("%d prefixes of a long word, want %d", len(long), MaxSearchPrefix)
	}
}

// indexesFromDocs recomputes the index keys of the customers, opportunities
// and service projections from their documents alone.
func indexesFromDocs(t *testing.T, s *store) []string {
	t.Helper()
	want := map[string]*memTx{}
	docs := func(p projections.Projection, prefix string, each func(m *memTx, raw string)) {
		m := newMemTx()
		for k, v := range s.tx(p).str {
			if strings.HasPrefix(k, prefix) {
				each(m, v)
			}
		}
		want[p.Name()] = m
	}
	docs(Customers{}, "customer:", func(m *memTx, raw string) {
		var c Customer
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			t.Fatal(err)
		}
		if !c.Registered {
			return
		}
		m.ZAdd(CustomerNameIndexKey, 0, CustomerNameMember(c.Name, c.ID))
		m.SAdd(CustomerLevelKey(c.Level), c.ID)
		m.SAdd(CustomerStatusKey(c.Status), c.ID)
		if c.Region != "" {
			m.SAdd(CustomerRegionKey(c.Region), c.ID)
		}
		if c.OwnerID != "" {
			m.SAdd(CustomerOwnerKey(c.OwnerID), c.ID)
		}
		for _, p := range searchPrefixes(c.Name) {
			m.SAdd(CustomerSearchKey(p), c.ID)
		}
	})
	docs(Opportunities{}, "opportunity:", func(m *memTx, raw string) {
		var o Opportunity
		if err := json.Unmarshal([]byte(raw), &o); err != nil {
			t.Fatal(err)
		}
		o.index(m)
	})
	docs(Service{}, "request:", func(m *memTx, raw string) {
		var r ServiceRequest
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			t.Fatal(err)
		}
		r.index(m)
	})
	var out []string
	for _, p := range []projections.Projection{Customers{}, Opportunities{}, Service{}} {
		m := want[p.Name()]
		for k, v := range s.tx(p).str {
			m.str[k] = v // documents compare equal by construction
		}
		for k := range s.tx(p).set {
			if k == ServiceYearsKey && p.Name() == "service" {
				m.set[k] = s.tx(p).set[k]
			}
		}
		out = append(out, m.dump(p.Name()+":")...)
	}
	return out
}

func TestIndexesMatchDocuments(t *testing.T) {
	events := scenario()
	for k := 1; k <= len(events); k++ {
		s := newStore()
		s.apply(t, events[:k])
		var got []string
		for _, p := range []projections.Projection{Customers{}, Opportunities{}, Service{}} {
			m := newMemTx()
			for key, v := range s.tx(p).str {
				m.str[key] = v
			}
			for key, v := range s.tx(p).zset {
				m.zset[key] = v
			}
			for key, v := range s.tx(p).set {
				m.set[key] = v
			}
			got = append(got, m.dump(p.Name()+":")...)
		}
		if diff := cmp.Diff(indexesFromDocs(t, s), got); diff != "" {
			t.Fatalf("after %d events (%s), indexes differ from the documents (-from docs +maintained):\n%s", k, events[k-1].Type, diff)
		}
	}
}

// retailHistory is an Online-Retail-like history: customers with orders of
// a few lines, some cancelled or partly returned, and interactions.
func retailHistory(customers, ordersEach int) []projections.Event {
	var b builder
	t0 := time.Date(2010, 12, 1, 8, 0, 0, 0, time.UTC)
	for c := 0; c < customers; c++ {
		cid := id(fmt.Sprintf("bench-c%d", c))
		b.add(domain.CustomerStream(cid), t0, domain.CustomerRegistered{CustomerID: cid,
			Profile: domain.Profile{Name: fmt.Sprintf("Online Retail customer %d", 12346+c), Region: "United Kingdom"}, Level: 1, RegisteredAt: t0})
	}
	for o := 0; o < ordersEach; o++ {
		for c := 0; c < customers; c++ {
			cid := id(fmt.Sprintf("bench-c%d", c))
			oid := id(fmt.Sprintf("bench-o%d-%d", c, o))
			at := t0.Add(time.Duration(o*customers+c) * time.Minute)
			lines := []domain.OrderLine{
				{SKU: "85123A", Description: "WHITE HANGING HEART T-LIGHT HOLDER", Quantity: dec("6"), UnitPrice: dec("2.55"), Amount: dec("15.30")},
				{SKU: "71053", Description: "WHITE METAL LANTERN", Quantity: dec("6"), UnitPrice: dec("3.39"), Amount: dec("20.34")},
				{SKU: "84406B", Description: "CREAM CUPID HEARTS COAT HANGER", Quantity: dec("8"), UnitPrice: dec("2.75"), Amount: dec("22.00")},
			}
			b.add(domain.OrderStream(oid), at, domain.OrderPlaced{OrderID: oid, CustomerID: cid, OrderNo: strconv.Itoa(536365 + o*customers + c),
				OrderedAt: at, Currency: "GBP", Lines: lines, Total: dec("57.64")})
			switch (o + c) % 10 {
			case 3:
				b.add(domain.OrderStream(oid), at.Add(time.Hour), domain.OrderCancelled{OrderID: oid, CustomerID: cid, Reason: "c",
					PreviousStatus: domain.OrderStatusPlaced, Total: dec("57.64"), Currency: "GBP", CancelledAt: at.Add(time.Hour)})
			case 5:
				b.add(domain.OrderStream(oid), at.Add(time.Hour), domain.OrderReturned{OrderID: oid, CustomerID: cid, ReturnNo: 1,
					Lines: []domain.ReturnLine{{SKU: "71053", Quantity: dec("1"), Amount: dec("3.39")}}, Amount: dec("3.39"), Currency: "GBP",
					ReturnedTotal: dec("3.39"), ReturnedAt: at.Add(time.Hour)})
			case 7:
				b.add(domain.CustomerStream(cid), at, domain.InteractionLogged{CustomerID: cid, InteractionID: oid, Channel: "call", OccurredAt: at, Summary: "follow-up"})
			}
		}
	}
	return b.events
}

// BenchmarkRebuild applies every read-model projection to a retail-like
// history through the in-memory Tx: the handlers' own cost (JSON, index
// maintenance), without Redis.
func BenchmarkRebuild(b *testing.B) {
	events := retailHistory(200, 50)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		newStore().apply(b, events)
	}
	b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
}

func TestEncodings(t *testing.T) {
	for _, a := range []Amounts{nil, {{Amount: dec("-0.50"), Currency: "GBP"}, {Amount: dec("12"), Currency: `X"<\`}}} {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var back []Money
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if diff := cmp.Diff([]Money(a), back, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", b, diff)
		}
	}
	for _, l := range []link{{}, {Revision: 7, CustomerID: custA.String(), Status: "a|b", Open: true, Value: dec("-1.25"), Currency: "EUR"}} {
		got, err := decodeLink("k", l.encode())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(l, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
	if _, err := decodeLink("k", "x|y"); !errors.Is(err, projections.ErrPermanent) {
		t.Errorf("bad link: %v", err)
	}
}

func TestDocCache(t *testing.T) {
	ctx := context.Background()
	c := newDocCache(2)
	m := newMemTx()
	type doc struct{ N int }
	if err := setDoc(m, c, "a", &doc{N: 1}); err != nil {
		t.Fatal(err)
	}
	// Another writer changed the key: the cached value must not be used.
	m.Set("a", `{"N":2}`)
	var d doc
	if _, err := getDoc(ctx, m, c, "a", &d); err != nil || d.N != 2 {
		t.Fatalf("stale cache: %+v %v", d, err)
	}
	// A hit is taken out of the cache: modifying it cannot leak.
	if err := setDoc(m, c, "a", &doc{N: 3}); err != nil {
		t.Fatal(err)
	}
	var h doc
	if _, err := getDoc(ctx, m, c, "a", &h); err != nil || h.N != 3 || c.Len() != 0 {
		t.Fatalf("hit: %+v %v, %d cached", h, err, c.Len())
	}
	// Bounded.
	for i := range 5 {
		if err := setDoc(m, c, strconv.Itoa(i), &doc{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() > 2 {
		t.Errorf("%d cached, max 2", c.Len())
	}
	// A missing key is not found, whatever the cache holds.
	m.Del("4")
	if found, err := getDoc(ctx, m, c, "4", &d); found || err != nil {
		t.Errorf("deleted key: found %v err %v", found, err)
	}
}

// aggregate is what the test needs of a domain aggregate.
type aggregate interface {
	Changes() []domain.Event
	ClearChanges()
}

// record appends an aggregate's recorded events to the history (the
// command layer's job) after a command succeeded.
func (b *builder) record(t *testing.T, stream string, at time.Time, a aggregate, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", stream, err)
	}
	for _, e := range a.Changes() {
		b.add(stream, at, e)
	}
	a.ClearChanges()
}

// TestAggregateHistory feeds the events the domain aggregates themselves
// record: a prospect's opportunity won (two streams), an order partly
// returned and then cancelled (the cancellation takes back only what the
// return left), a service request reopened by low feedback.
func TestAggregateHistory(t *testing.T) {
	var b builder
	at := func(d int) time.Time { return day0(2026, 3, d) }
	cust := domain.NewCustomer()
	cid := id("agg-customer")
	b.record(t, domain.CustomerStream(cid), at(1), cust,
		cust.Register(cid, domain.RegisterCustomer{Profile: domain.Profile{Name: "Delta Foods", Region: "East"}, Level: 2, OwnerID: "u1"}, at(1)))

	opp := domain.NewOpportunity()
	oid := id("agg-opp")
	b.record(t, domain.OpportunityStream(oid), at(2), opp, opp.Create(oid, domain.CreateOpportunity{Title: "Pilot",
		Prospect: &domain.Prospect{Name: "Echo Ltd", ContactName: "Eve"}, ExpectedValue: decp("300.00"), Currency: "EUR"}, at(2)))
	b.record(t, domain.OpportunityStream(oid), at(3), opp, opp.Assign("u2", at(3)))
	newCust, err := opp.Win(domain.WinOpportunity{Amount: decp("280.00")}, at(4))
	b.record(t, domain.OpportunityStream(oid), at(4), opp, err)
	if newCust == nil {
		t.Fatal("winning a prospect's opportunity registers no customer")
	}
	echo := domain.CustomerIDForOpportunity(oid)
	b.record(t, domain.CustomerStream(echo), at(4), newCust, nil)

	ord := domain.NewOrder()
	rid := id("agg-order")
	b.record(t, domain.OrderStream(rid), at(5), ord, ord.Place(rid, domain.PlaceOrder{CustomerID: cid, OrderedAt: at(5), Currency: "GBP",
		Lines: []domain.OrderLine{{SKU: "A", Quantity: dec("4"), UnitPrice: dec("25.00")}}}, at(5)))
	b.record(t, domain.OrderStream(rid), at(6), ord, ord.Return(domain.ReturnOrder{Lines: []domain.ReturnLine{{SKU: "A", Quantity: dec("1")}}}, at(6)))
	b.record(t, domain.OrderStream(rid), at(7), ord, ord.Cancel("customer withdrew", at(7)))

	svc := domain.NewServiceRequest()
	sid := id("agg-service")
	b.record(t, domain.ServiceStream(sid), at(8), svc, svc.Open(sid, domain.OpenServiceRequest{CustomerID: cid, Type: domain.ServiceComplaint,
		Title: "Broken", Request: "It broke"}, at(8)))
	b.record(t, domain.ServiceStream(sid), at(8), svc, svc.Assign("u3", at(8)))
	b.record(t, domain.ServiceStream(sid), at(9), svc, svc.Handle("Replaced", at(9)))
	b.record(t, domain.ServiceStream(sid), at(10), svc, svc.RecordFeedback(domain.Feedback{Result: "meh", Satisfaction: 2}, at(10)))

	s := newStore()
	s.apply(t, b.events)

	var c, e Customer
	s.doc(t, Customers{}, CustomerKey(cid.String()), &c)
	s.doc(t, Customers{}, CustomerKey(echo.String()), &e)
	var o Order
	s.doc(t, Orders{}, OrderKey(rid.String()), &o)
	var con Contribution
	s.doc(t, Orders{}, ContributionKey("2026", cid.String()), &con)
	var ov Overview
	s.doc(t, Reports{}, OverviewKey, &ov)
	var pl Pipeline
	s.doc(t, Opportunities{}, PipelineKey, &pl)
	var sr ServiceRequest
	s.doc(t, Service{}, ServiceRequestKey(sid.String()), &sr)
	gbp := func(v string) Amounts { return Amounts{{Amount: dec(v), Currency: "GBP"}} }
	tests := []struct {
		name      string
		got, want any
	}{
		{"customer revenue after return then cancel", c.KPIs.Revenue, Amounts(nil)},
		{"customer kpis", []int{c.KPIs.Orders, c.KPIs.CancelledOrders, c.KPIs.OpenServiceRequests, c.KPIs.Complaints}, []int{1, 1, 1, 1}},
		{"order", []string{o.Status, o.Total.String(), o.Returned.String(), o.Net.String()}, []string{"cancelled", "100.00", "25.00", "0"}},
		{"contribution", con, Contribution{CustomerID: cid.String(), Year: "2026", Orders: 1, Cancelled: 1, Returns: 1,
			Placed: gbp("100.00"), Cancels: gbp("75.00"), Returned: gbp("25.00")}},
		{"overview revenue", ov.Revenue, Amounts(nil)},
		{"overview open service", []int{ov.OpenServiceRequests, ov.OpenComplaints}, []int{1, 1}},
		{"prospect registered with contact", []any{e.Name, e.OwnerID, e.OpportunityID, len(e.Contacts), e.KPIs.WonOpportunities}, []any{"Echo Ltd", "u2", oid.String(), 1, 1}},
		{"pipeline won amount", pl.ByStatus["won"], Bucket{Count: 1, Value: Amounts{{Amount: dec("280.00"), Currency: "EUR"}}}},
		{"service reopened", []any{sr.Status, sr.Reopened, sr.AssigneeID}, []any{"assigned", 1, "u3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	var items int
	for _, x := range []uuid.UUID{cid, echo} {
		items += len(s.tx(Timeline{}).zset[TimelineKey(x.String(), "")])
	}
	if items != len(b.events) {
		t.Errorf("timelines hold %d items, want %d", items, len(b.events))
	}
}
