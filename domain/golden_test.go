package domain

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/events")

const goldenDir = "testdata/events"

// samples returns a representative instance of every event type, with
// optional fields filled so the golden files show every field's form.
func samples() []Event {
	ca := contactAdded()
	ca.Contact = Contact{Name: "Ann Smith", Gender: "female", Title: "Buyer", Phone: "+44 20 7946 0000", Mobile: "+44 7700 900000",
		Email: "ann@acme.example", Memo: "prefers mornings"}
	reg := registered()
	reg.Profile = Profile{Name: "Acme Ltd", Region: "United Kingdom", Industry: "Retail", Address: "1 High St, London", Zip: "EC1A 1AA",
		Phone: "+44 20 7946 0001", Fax: "+44 20 7946 0002", Website: "https://acme.example", LicenceNo: "LN-1", LegalRepresentative: "J. Doe",
		RegisteredCapital: "1000000.00", AnnualRevenue: "25000000", Bank: "Barclays", BankAccount: "GB33BUKB20201555555555",
		LocalTaxNo: "LT-1", NationalTaxNo: "GB123456789"}
	reg.Credit, reg.Satisfaction, reg.ExternalRef = 4, 5, "online-retail:12346"
	reg.OpportunityID = ptr(oppID) // set when registered by winning an opportunity
	oc := oppCreatedForCustomer()
	oc.Description = "three-year framework"
	op := orderPlaced()
	return []Event{
		reg,
		CustomerProfileChanged{CustomerID: custID, Changes: []FieldChange{{Field: "region", From: "United Kingdom", To: "France"}, {Field: "phone", To: "+33 1"}},
			Profile: Profile{Name: "Acme Ltd", Region: "France", Phone: "+33 1"}},
		CustomerLevelChanged{CustomerID: custID, From: 1, To: 3},
		CustomerCreditRated{CustomerID: custID, From: 0, To: 4},
		CustomerSatisfactionRated{CustomerID: custID, From: 2, To: 5},
		CustomerOwnerAssigned{CustomerID: custID, PreviousOwnerID: "rep-1", OwnerID: "rep-2"},
		ca,
		ContactChanged{CustomerID: custID, ContactID: contID, Changes: []FieldChange{{Field: "title", From: "Buyer", To: "CFO"}},
			Contact: Contact{Name: "Ann Smith", Title: "CFO"}},
		ContactRemoved{CustomerID: custID, ContactID: contID, Name: "Ann Smith"},
		InteractionLogged{CustomerID: custID, InteractionID: intID, Channel: ChannelVisit, OccurredAt: t0, Place: "Leeds", Summary: "demo",
			Detail: "went well", ContactID: ptr(contID)},
		ChurnWarningRaised{CustomerID: custID, Why: ChurnWhyScore, Score: ptr(81), Signals: []ChurnSignal{
			{Signal: "recency", Contribution: 45.5, Detail: "no order for 212 days"}, {Signal: "complaints", Contribution: 20, Detail: "2 complaints in 90 days"}},
			PreviousStatus: CustomerStatusActive, RaisedAt: t0},
		ChurnDeferred{CustomerID: custID, Measure: "10% discount on the next order", DeferredAt: t1},
		ChurnConfirmed{CustomerID: custID, Reason: "went to a competitor", PreviousStatus: CustomerStatusAtRisk, ConfirmedAt: t1},
		ChurnWarningCleared{CustomerID: custID, Reason: "ordered again", ClearedAt: t1},
		CustomerReactivated{CustomerID: custID, Reason: "won back", PreviousStatus: CustomerStatusLost, ReactivatedAt: t2},

		oc,
		OpportunityChanged{OpportunityID: oppID, CustomerID: ptr(custID), Changes: []FieldChange{{Field: "successRate", From: "40", To: "60"}},
			Details: OpportunityDetails{Title: "Framework deal", Source: "trade fair", SuccessRate: 60, ExpectedValue: ptr(dec("12000.00")), Currency: "EUR"}},
		oppAssigned("", "rep-1", ptr(custID)),
		PlanItemAdded{OpportunityID: oppID, CustomerID: ptr(custID), ItemID: itemID, DueDate: t1, Action: "call the buyer"},
		PlanItemChanged{OpportunityID: oppID, CustomerID: ptr(custID), ItemID: itemID,
			Changes: []FieldChange{{Field: "dueDate", From: timeText(t1), To: timeText(t2)}}, DueDate: t2, Action: "call the buyer"},
		PlanItemResultRecorded{OpportunityID: oppID, CustomerID: ptr(custID), ItemID: itemID, PreviousResult: "no answer", Result: "interested", RecordedAt: t2},
		OpportunityWon{OpportunityID: oppID, CustomerID: CustomerIDForOpportunity(oppID), NewCustomer: true, Amount: ptr(dec("11500.50")), Currency: "EUR",
			AssigneeID: "rep-1", WonAt: t2},
		OpportunityLost{OpportunityID: oppID, CustomerID: ptr(custID), Reason: "price", PreviousStatus: OpportunityStatusAssigned, LostAt: t2},

		srOpened(),
		srAssigned("", "agent-1"),
		srHandled(),
		ServiceFeedbackRecorded{ServiceRequestID: srID, CustomerID: custID, Result: "fine", Satisfaction: 4, RecordedAt: t2},
		ServiceRequestArchived{ServiceRequestID: srID, CustomerID: custID, Satisfaction: 4, ArchivedAt: t2},
		ServiceRequestReopened{ServiceRequestID: srID, CustomerID: custID, AssigneeID: "agent-1", Satisfaction: 2, ReopenedAt: t2},

		op,
		OrderShipped{OrderID: ordID, CustomerID: custID, Carrier: "DHL", TrackingNo: "JD014600006281234567", ShippedAt: t1},
		OrderDelivered{OrderID: ordID, CustomerID: custID, DeliveredAt: t2},
		PaymentReceived{OrderID: ordID, CustomerID: custID, Amount: dec("24.65"), Currency: "GBP", Reference: "INV-1", PaidTotal: dec("24.65"), FullyPaid: true, ReceivedAt: t2},
		OrderCancelled{OrderID: ordID, CustomerID: custID, Reason: "duplicate", PreviousStatus: OrderStatusPlaced, Total: dec("24.65"), Currency: "GBP", CancelledAt: t1},
		OrderReturned{OrderID: ordID, CustomerID: custID, ReturnNo: 1, Lines: []ReturnLine{{SKU: "85123A", Quantity: dec("7"), Amount: dec("17.85")}},
			Amount: dec("17.85"), Currency: "GBP", Reason: "broken", ReturnedTotal: dec("17.85"), ReturnedAt: t2},
	}
}

func TestEventTypesTable(t *testing.T) {
	seen := map[string]bool{}
	goTypes := map[reflect.Type]string{}
	for _, et := range EventTypes() {
		if et.Name == "" || et.SchemaVersion < 1 || et.New == nil {
			t.Fatalf("bad entry %+v", et)
		}
		if seen[et.Name] {
			t.Errorf("%s listed twice", et.Name)
		}
		seen[et.Name] = true
		v := et.New()
		if v == nil || v.EventType() != et.Name {
			t.Errorf("%s: New() returned %#v", et.Name, v)
			continue
		}
		rt := reflect.TypeOf(v)
		if rt.Kind() != reflect.Struct {
			t.Errorf("%s: New returns a %v, want a struct value", et.Name, rt.Kind())
		}
		if other, dup := goTypes[rt]; dup {
			t.Errorf("%s and %s share Go type %v", et.Name, other, rt)
		}
		goTypes[rt] = et.Name
		if got, ok := LookupEventType(et.Name); !ok || got.Name != et.Name {
			t.Errorf("LookupEventType(%q) = %+v, %v", et.Name, got, ok)
		}
		if !isPascalCase(et.Name) {
			t.Errorf("%q is not PascalCase", et.Name)
		}
	}
	if _, ok := LookupEventType("NoSuchEvent"); ok {
		t.Error("LookupEventType found an unknown name")
	}
	// The catalogue of DESIGN §5.
	want := []string{"CustomerRegistered", "CustomerProfileChanged", "CustomerLevelChanged", "CustomerCreditRated",
		"CustomerSatisfactionRated", "CustomerOwnerAssigned", "ContactAdded", "ContactChanged", "ContactRemoved", "InteractionLogged",
		"ChurnWarningRaised", "ChurnDeferred", "ChurnConfirmed", "ChurnWarningCleared", "CustomerReactivated",
		"OpportunityCreated", "OpportunityChanged", "OpportunityAssigned", "PlanItemAdded", "PlanItemChanged", "PlanItemResultRecorded",
		"OpportunityWon", "OpportunityLost",
		"ServiceRequestOpened", "ServiceRequestAssigned", "ServiceRequestHandled", "ServiceFeedbackRecorded", "ServiceRequestArchived", "ServiceRequestReopened",
		"OrderPlaced", "OrderShipped", "OrderDelivered", "PaymentReceived", "OrderCancelled", "OrderReturned"}
	for _, n := range want {
		if !seen[n] {
			t.Errorf("catalogue event %s missing from EventTypes()", n)
		}
	}
}

func isPascalCase(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func marshalGolden(t *testing.T, e Event) []byte {
	t.Helper()
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		t.Fatalf("%s: %v", e.EventType(), err)
	}
	return append(b, '\n')
}

// TestGoldenEvents pins the stored JSON form of every event type: a sample
// of each type of EventTypes() is marshalled and compared with
// testdata/events/<Type>.json. Run with -update to rewrite the files after a
// deliberate, backward-compatible change (and keep the old form decoding:
// see TestGoldenEventsDecode and testdata/events/legacy).
func TestGoldenEvents(t *testing.T) {
	byName := map[string]Event{}
	for _, e := range samples() {
		if _, dup := byName[e.EventType()]; dup {
			t.Errorf("two samples of %s", e.EventType())
		}
		byName[e.EventType()] = e
	}
	for _, et := range EventTypes() {
		e, ok := byName[et.Name]
		if !ok {
			t.Errorf("%s: no sample in samples()", et.Name)
			continue
		}
		got := marshalGolden(t, e)
		path := filepath.Join(goldenDir, et.Name+".json")
		if *update {
			if err := os.MkdirAll(goldenDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: no golden file (run go test ./domain -run TestGoldenEvents -update): %v", et.Name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: stored form changed (-golden +now):\n%s", et.Name, cmp.Diff(string(want), string(got)))
		}
	}
	// No stray golden files of unknown types.
	entries, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range entries {
		if de.IsDir() {
			continue
		}
		name, ok := strings.CutSuffix(de.Name(), ".json")
		if _, known := LookupEventType(name); !ok || !known {
			t.Errorf("golden file %s names no event type", de.Name())
		}
	}
}

// TestGoldenEventsDecode decodes every golden file, current and legacy,
// into its type the way the codec does (into the value New returns): old
// forms must keep decoding. Current forms must also round-trip exactly.
// Legacy files live in testdata/events/legacy/<Type>.v<N>.json.
func TestGoldenEventsDecode(t *testing.T) {
	byName := map[string]Event{}
	for _, e := range samples() {
		byName[e.EventType()] = e
	}
	for _, et := range EventTypes() {
		path := filepath.Join(goldenDir, et.Name+".json")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", et.Name, err)
			continue
		}
		got := decodeAs(t, et, data)
		if diff := cmp.Diff(byName[et.Name], got); diff != "" {
			t.Errorf("%s: decoded golden differs from the sample (-sample +decoded):\n%s", et.Name, diff)
		}
		if again := marshalGolden(t, got); !bytes.Equal(again, data) {
			t.Errorf("%s: does not round-trip:\n%s", et.Name, cmp.Diff(string(data), string(again)))
		}
	}
	legacy, _ := filepath.Glob(filepath.Join(goldenDir, "legacy", "*.json"))
	for _, path := range legacy {
		base := filepath.Base(path)
		name, _, _ := strings.Cut(base, ".")
		et, ok := LookupEventType(name)
		if !ok {
			t.Errorf("legacy file %s names no event type", base)
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		decodeAs(t, et, data)
	}
}

func decodeAs(t *testing.T, et EventType, data []byte) Event {
	t.Helper()
	tmpl := et.New()
	ptr := reflect.New(reflect.TypeOf(tmpl))
	ptr.Elem().Set(reflect.ValueOf(tmpl))
	if err := json.Unmarshal(data, ptr.Interface()); err != nil {
		t.Errorf("%s: decoding: %v", et.Name, err)
		return tmpl
	}
	e := ptr.Elem().Interface().(Event)
	if e.EventType() != et.Name {
		t.Errorf("%s decoded into %s", et.Name, e.EventType())
	}
	return e
}

// TestGoldenFieldNames checks the JSON conventions on the golden files:
// camelCase keys, the aggregate id on every event.
func TestGoldenFieldNames(t *testing.T) {
	idOf := func(name string) string {
		switch {
		case slices.Contains([]string{"OpportunityCreated", "OpportunityChanged", "OpportunityAssigned", "PlanItemAdded", "PlanItemChanged",
			"PlanItemResultRecorded", "OpportunityWon", "OpportunityLost"}, name):
			return "opportunityId"
		case strings.HasPrefix(name, "Service"):
			return "serviceRequestId"
		case strings.HasPrefix(name, "Order") || name == "PaymentReceived":
			return "orderId"
		}
		return "customerId"
	}
	for _, e := range samples() {
		var m map[string]any
		if err := json.Unmarshal(marshalGolden(t, e), &m); err != nil {
			t.Fatal(err)
		}
		if _, ok := m[idOf(e.EventType())]; !ok {
			t.Errorf("%s has no %s", e.EventType(), idOf(e.EventType()))
		}
		if n := e.EventType(); n == "ServiceRequestOpened" || n == "OrderPlaced" || n == "OpportunityWon" {
			if _, ok := m["customerId"]; !ok {
				t.Errorf("%s has no customerId", n)
			}
		}
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, x := range v {
					if k == "" || k[0] < 'a' || k[0] > 'z' || strings.ContainsAny(k, "_- ") {
						t.Errorf("%s: key %s%s is not camelCase", e.EventType(), path, k)
					}
					walk(path+k+".", x)
				}
			case []any:
				for _, x := range v {
					walk(path, x)
				}
			}
		}
		walk("", m)
	}
}
