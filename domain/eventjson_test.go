package domain

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// exactly compares decoded events field by field with no leniency: a
// Decimal by coefficient and scale (2.5 is not 2.50 here), a time by
// instant, location name and offset, nil and empty slices as different.
var exactly = cmp.Options{
	cmp.Comparer(func(a, b Decimal) bool { return a == b }),
	cmp.Comparer(func(a, b time.Time) bool {
		an, ao := a.Zone()
		bn, bo := b.Zone()
		return a.Equal(b) && an == bn && ao == bo && a.Location().String() == b.Location().String()
	}),
}

// agreeWithJSON runs a fast decoder on in and, when it accepts, checks that
// json.Unmarshal into a zero value accepts too and gives the same value. It
// returns whether the fast decoder accepted.
func agreeWithJSON[T any](t *testing.T, fast func([]byte) (T, bool), in []byte) bool {
	t.Helper()
	got, ok := fast(in)
	if !ok {
		var zero T
		if diff := cmp.Diff(zero, got, exactly); diff != "" {
			t.Errorf("%q: refused, but returned a non-zero value (-zero +got):\n%s", in, diff)
		}
		return false
	}
	var want T
	if err := json.Unmarshal(in, &want); err != nil {
		t.Fatalf("%q: the fast path accepted what encoding/json rejects: %v", in, err)
	}
	if diff := cmp.Diff(want, got, exactly); diff != "" {
		t.Errorf("%q (-encoding/json +fast):\n%s", in, diff)
	}
	return true
}

// fastCase is one input of the table tests: accept says whether the fast
// path must take it (false: encoding/json must decide, with a value or an
// error).
type fastCase struct {
	name   string
	in     string
	accept bool
}

func runFastCases[T any](t *testing.T, fast func([]byte) (T, bool), cases []fastCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := agreeWithJSON(t, fast, []byte(tc.in)); got != tc.accept {
				var v T
				err := json.Unmarshal([]byte(tc.in), &v)
				t.Errorf("accepted = %v, want %v (encoding/json: %v)", got, tc.accept, err)
			}
		})
	}
}

// compactJSON is the stored form of an event: encoding/json's output.
func compactJSON(t testing.TB, e Event) string {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// replace returns s with old replaced once; the test fails when old is not
// in s, so a case never silently tests the unchanged input.
func replace(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q is not in %s", old, s)
	}
	return strings.Replace(s, old, new, 1)
}

// retailDescriptions are Online Retail product descriptions (with a quote
// and HTML characters, which the stored JSON escapes).
var retailDescriptions = []string{
	"WHITE HANGING HEART T-LIGHT HOLDER", "WHITE METAL LANTERN", "CREAM CUPID HEARTS COAT HANGER",
	"KNITTED UNION FLAG HOT WATER BOTTLE", "RED WOOLLY HOTTIE WHITE HEART.", "SET 7 BABUSHKA NESTING BOXES",
	"GLASS STAR FROSTED T-LIGHT HOLDER", "HAND WARMER UNION JACK", "HAND WARMER RED POLKA DOT",
	"ASSORTED COLOUR BIRD ORNAMENT", "POPPY'S PLAYHOUSE BEDROOM ", `RECORD FRAME 7" SINGLE SIZE`,
	"FELTCRAFT PRINCESS CHARLOTTE DOLL", "IVORY KNITTED MUG COSY ", "BOX OF 6 ASSORTED COLOUR TEASPOONS",
	"BOX OF VINTAGE JIGSAW BLOCKS ", "BOX OF VINTAGE ALPHABET BLOCKS", "PINK & WHITE <HEART> T-LIGHT",
	"LOVE BUILDING BLOCK WORD", "RECIPE BOX WITH METAL HEART",
}

// retailOrder is an OrderPlaced of n lines as the Online Retail import
// records it, made by the Order aggregate.
func retailOrder(t testing.TB, n int) OrderPlaced {
	t.Helper()
	p := PlaceOrder{CustomerID: custID, OrderNo: "536365", OrderedAt: time.Date(2010, 12, 1, 8, 26, 0, 0, time.UTC),
		Currency: "GBP", ShippingAddress: "United Kingdom"}
	prices := []string{"2.55", "3.39", "2.75", "7.65", "4.25", "1.85", "1.69", "0.85", "12.75", "0.42"}
	for i := range n {
		p.Lines = append(p.Lines, OrderLine{SKU: fmt.Sprintf("%d", 84029+i*37), Description: retailDescriptions[i%len(retailDescriptions)],
			Quantity: DecimalFromInt(int64(1 + i*7%48)), UnitPrice: dec(prices[i%len(prices)])})
	}
	o := NewOrder()
	if err := o.Place(ordID, p, t0); err != nil {
		t.Fatal(err)
	}
	return o.Changes()[0].(OrderPlaced)
}

// realEvents returns stored events of the four fast types made by the
// aggregates: an order of 20 lines, its partial return and its
// cancellation, and customers registered with a minimal and a full profile.
func realEvents(t testing.TB) []Event {
	t.Helper()
	placed := retailOrder(t, 20)
	o := NewOrder()
	o.Apply(placed)
	if err := o.Return(ReturnOrder{Lines: []ReturnLine{{SKU: placed.Lines[0].SKU, Quantity: dec("1")}, {SKU: placed.Lines[3].SKU, Quantity: dec("2")}},
		Reason: "damaged"}, t1); err != nil {
		t.Fatal(err)
	}
	if err := o.Cancel("customer request", t1); err != nil {
		t.Fatal(err)
	}
	events := append([]Event{placed}, o.Changes()...)
	c := NewCustomer()
	if err := c.Register(custID, RegisterCustomer{Profile: Profile{Name: "12346", Region: "United Kingdom"}, ExternalRef: "online-retail:12346"}, t0); err != nil {
		t.Fatal(err)
	}
	full := NewCustomer()
	if err := full.Register(uuid.MustParse("11111111-1111-4111-8111-111111111112"), RegisterCustomer{
		Profile: Profile{Name: "Société Générale d'Épicerie", Region: "France", Industry: "Retail", Address: "1 rue de la Paix, Paris",
			Zip: "75002", Phone: "+33 1 00 00 00 00", Website: "https://epicerie.example", RegisteredCapital: "1000000.00", AnnualRevenue: "2500000"},
		Level: 3, Credit: 4, Satisfaction: 5, OwnerID: "rep-1"}, t2); err != nil {
		t.Fatal(err)
	}
	events = append(events, c.Changes()...)
	return append(events, full.Changes()...)
}

func TestFastDecodersAcceptRealEvents(t *testing.T) {
	events := realEvents(t)
	kinds := map[string]int{}
	for _, e := range events {
		in := []byte(compactJSON(t, e))
		var accepted bool
		switch e.(type) {
		case OrderPlaced:
			accepted = agreeWithJSON(t, DecodeOrderPlacedFast, in)
		case OrderCancelled:
			accepted = agreeWithJSON(t, DecodeOrderCancelledFast, in)
		case OrderReturned:
			accepted = agreeWithJSON(t, DecodeOrderReturnedFast, in)
		case CustomerRegistered:
			accepted = agreeWithJSON(t, DecodeCustomerRegisteredFast, in)
		default:
			continue
		}
		kinds[e.EventType()]++
		if !accepted {
			t.Errorf("the stored form of %s is refused: %s", e.EventType(), in)
		}
	}
	if len(kinds) != 4 {
		t.Fatalf("real events cover %v, want the four fast types", kinds)
	}
}

// The golden files (indented) and the legacy files: the current form is
// accepted, a legacy form the fast path does not know (numeric decimals) is
// left to encoding/json.
func TestFastDecodersGoldenFiles(t *testing.T) {
	tests := []struct {
		file   string
		accept bool
	}{
		{"OrderPlaced.json", true},
		{"OrderCancelled.json", true},
		{"OrderReturned.json", true},
		{"CustomerRegistered.json", true},
		{"legacy/CustomerRegistered.minimal.json", true},
		{"legacy/OrderPlaced.numeric-decimals.json", false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join(goldenDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var accepted bool
			switch name, _, _ := strings.Cut(filepath.Base(tt.file), "."); name {
			case TypeOrderPlaced:
				accepted = agreeWithJSON(t, DecodeOrderPlacedFast, in)
			case TypeOrderCancelled:
				accepted = agreeWithJSON(t, DecodeOrderCancelledFast, in)
			case TypeOrderReturned:
				accepted = agreeWithJSON(t, DecodeOrderReturnedFast, in)
			case TypeCustomerRegistered:
				accepted = agreeWithJSON(t, DecodeCustomerRegisteredFast, in)
			default:
				t.Fatalf("no fast decoder for %s", name)
			}
			if accepted != tt.accept {
				t.Errorf("accepted = %v, want %v", accepted, tt.accept)
			}
		})
	}
}

func TestDecodeOrderPlacedFast(t *testing.T) {
	s := compactJSON(t, orderPlaced())
	runFastCases(t, DecodeOrderPlacedFast, []fastCase{
		{"stored form", s, true},
		{"whitespace everywhere", " \t\n{ \"orderId\" :\r\n\"44444444-4444-4444-8444-444444444444\" , \"lines\" : [ { \"sku\" : \"A\" , \"quantity\" : \"1\" } , { } ] , \"total\" : \"1\" } \n", true},
		{"empty object", `{}`, true},
		{"empty lines: empty, not nil", `{"lines":[]}`, true},
		{"empty lines with space", `{"lines":[ ]}`, true},
		{"empty line object", `{"lines":[{}]}`, true},
		{"non-ASCII description", replace(t, s, "WHITE METAL LANTERN", "LANTERNE MÉTALLIQUE 🏮"), true},
		{"offset time", replace(t, s, "2026-03-02T09:30:00Z", "2026-03-02T10:30:00.123456789+01:00"), true},
		{"lower-case time", replace(t, s, "2026-03-02T09:30:00Z", "2026-03-02t09:30:00z"), false},
		{"uuid in braces", replace(t, s, `"44444444-4444-4444-8444-444444444444"`, `"{44444444-4444-4444-8444-444444444444}"`), true},
		{"uuid without dashes", replace(t, s, `"44444444-4444-4444-8444-444444444444"`, `"44444444444444448444444444444444"`), true},
		{"empty strings", replace(t, s, `"orderNo":"536365"`, `"orderNo":""`), true},
		{"DEL character", replace(t, s, "WHITE METAL LANTERN", "WHITE\x7fLANTERN"), true},
		{"decimal with plus sign", replace(t, s, `"quantity":"6"`, `"quantity":"+6"`), true},
		{"negative decimal", replace(t, s, `"total":"24.65"`, `"total":"-24.650"`), true},
		{"300 lines: more than preallocated", `{"lines":[` + strings.Repeat(`{"sku":"A","quantity":"1"},`, 299) + `{"sku":"B"}]}`, true},
		{"braces in a description", replace(t, s, "WHITE METAL LANTERN", strings.Repeat("{", 5000)), true},

		{"escaped quote", replace(t, s, "WHITE METAL LANTERN", `RECORD FRAME 7\" SINGLE SIZE`), true},
		{"escaped quote first", replace(t, s, "WHITE METAL LANTERN", `\"QUOTED\"`), true},
		{"every short escape", replace(t, s, "WHITE METAL LANTERN", `\"\\\/\b\f\n\r\t`), true},
		{"HTML escapes of encoding/json", replace(t, s, "WHITE METAL LANTERN", `BLUE \u0026 WHITE \u003cBIG\u003e`), true},
		{"unicode escapes", replace(t, s, "WHITE METAL LANTERN", `\u00c9T\u00C9 \u2028 \u0000 \ufffd`), true},
		{"surrogate pair", replace(t, s, "WHITE METAL LANTERN", `LANTERN \ud83c\udfee!`), true},
		{"escapes and UTF-8", replace(t, s, "WHITE METAL LANTERN", `ÉTÉ \"été\" 夏`), true},
		{"long escaped string", replace(t, s, "WHITE METAL LANTERN", strings.Repeat(`ab\"`, 100)), true},
		{"escaped SKU", replace(t, s, `"sku":"71053"`, `"sku":"71\u00305\u0033"`), true},
		{"escaped currency", replace(t, s, `"currency":"GBP"`, `"currency":"G\u0042P"`), true},
		{"lone high surrogate", replace(t, s, "WHITE METAL LANTERN", `LANTERN \ud83c!`), false},
		{"high surrogate then other escape", replace(t, s, "WHITE METAL LANTERN", `LANTERN \ud83c\u0041`), false},
		{"lone low surrogate", replace(t, s, "WHITE METAL LANTERN", `LANTERN \udfee`), false},
		{"two high surrogates", replace(t, s, "WHITE METAL LANTERN", `\ud83c\ud83c`), false},
		{"surrogate at the end", `{"orderNo":"\ud83c"}`, false},
		{"short unicode escape", replace(t, s, "WHITE METAL LANTERN", `\u00e`), false},
		{"bad hex in escape", replace(t, s, "WHITE METAL LANTERN", `\u00g9`), false},
		{"unknown escape", replace(t, s, "WHITE METAL LANTERN", `\x41`), false},
		{"escape and invalid UTF-8", replace(t, s, "WHITE METAL LANTERN", "\\n\xff"), false},
		{"escape and control character", replace(t, s, "WHITE METAL LANTERN", "\\n\x01"), false},
		{"unterminated escaped string", `{"orderNo":"a\"`, false},
		{"backslash at the end", `{"orderNo":"a\`, false},
		{"escaped uuid", replace(t, s, `"44444444-4444-4444-8444-444444444444"`, `"\u00344444444-4444-4444-8444-444444444444"`), false},
		{"escaped time", replace(t, s, "2026-03-02T09:30:00Z", `2026-03-02T09:30:00\u005a`), false},
		{"escaped decimal", replace(t, s, `"total":"24.65"`, `"total":"24.6\u0035"`), false},
		{"escaped key", replace(t, s, `"orderNo"`, `"order\u004eo"`), false},
		{"invalid UTF-8", replace(t, s, "WHITE METAL LANTERN", "WHITE \xff LANTERN"), false},
		{"surrogate in UTF-8", replace(t, s, "WHITE METAL LANTERN", "WHITE \xed\xa0\x80 LANTERN"), false},
		{"control character", replace(t, s, "WHITE METAL LANTERN", "WHITE\tLANTERN"), false},
		{"key differs by case", replace(t, s, `"orderNo"`, `"OrderNo"`), false},
		{"key differs by Kelvin sign", replace(t, s, `"sku"`, "\"s\u212au\""), false},
		{"line key differs by case", replace(t, s, `"sku"`, `"SKU"`), false},
		{"unknown key", replace(t, s, `"orderNo"`, `"note":"x","orderNo"`), false},
		{"unknown line key", replace(t, s, `"sku"`, `"vat":"0.2","sku"`), false},
		{"duplicate key", replace(t, s, `"orderNo"`, `"orderNo":"1","orderNo"`), false},
		{"duplicate lines", replace(t, s, `"total"`, `"lines":[],"total"`), false},
		{"duplicate line key", replace(t, s, `"quantity":"6"`, `"quantity":"6","quantity":"7"`), false},
		{"null lines", replace(t, s, `"total"`, `"lines":null,"total"`), false},
		{"null order", `null`, false},
		{"null string", replace(t, s, `"orderNo":"536365"`, `"orderNo":null`), false},
		{"null total", replace(t, s, `"total":"24.65"`, `"total":null`), false},
		{"null line", `{"lines":[null]}`, false},
		{"numeric decimal", replace(t, s, `"total":"24.65"`, `"total":24.65`), false},
		{"numeric string field", replace(t, s, `"orderNo":"536365"`, `"orderNo":536365`), false},
		{"lines as an object", `{"lines":{"sku":"A"}}`, false},
		{"nested array", `{"lines":[[]]}`, false},
		{"bad uuid", replace(t, s, "44444444-4444-4444-8444-444444444444", "44444444-4444-4444-8444-44444444444g"), false},
		{"bad time", replace(t, s, "2026-03-02T09:30:00Z", "2026-03-02 09:30:00"), false},
		{"time hour 24", replace(t, s, "2026-03-02T09:30:00Z", "2026-03-02T24:00:00Z"), false},
		{"bad decimal", replace(t, s, `"total":"24.65"`, `"total":"24,65"`), false},
		{"decimal with 13 fraction digits", replace(t, s, `"total":"24.65"`, `"total":"1.0000000000001"`), false},
		{"decimal too large", replace(t, s, `"total":"24.65"`, `"total":"9999999999999999999"`), false},
		{"trailing garbage", s + "x", false},
		{"second object", s + "{}", false},
		{"trailing comma", replace(t, s, `}],`, `},],`), false},
		{"trailing comma in object", `{"orderNo":"1",}`, false},
		{"missing colon", `{"orderNo" "1"}`, false},
		{"missing comma", `{"orderNo":"1" "currency":"GBP"}`, false},
		{"unterminated", s[:len(s)-1], false},
		{"unterminated string", `{"orderNo":"1`, false},
		{"unterminated key", `{"orderNo`, false},
		{"unterminated lines", `{"lines":[{"sku":"A"}`, false},
		{"array", `[]`, false},
		{"empty input", ``, false},
	})
}

func TestDecodeOrderCancelledFast(t *testing.T) {
	o := NewOrder()
	o.Apply(orderPlaced())
	if err := o.Cancel("duplicate", t1); err != nil {
		t.Fatal(err)
	}
	s := compactJSON(t, o.Changes()[0])
	runFastCases(t, DecodeOrderCancelledFast, []fastCase{
		{"stored form", s, true},
		{"empty object", `{}`, true},
		{"unknown status is a string", replace(t, s, `"placed"`, `"lost in the post"`), true},
		{"non-ASCII reason", replace(t, s, `"duplicate"`, `"doublon commandé"`), true},
		{"escaped reason", replace(t, s, `"duplicate"`, `"dup\nlicate"`), true},
		{"escaped status", replace(t, s, `"placed"`, `"pl\u0061ced"`), true},
		{"key differs by case", replace(t, s, `"reason"`, `"Reason"`), false},
		{"unknown key", replace(t, s, `"reason"`, `"lines":[],"reason"`), false},
		{"duplicate key", replace(t, s, `"reason"`, `"reason":"x","reason"`), false},
		{"null status", replace(t, s, `"placed"`, `null`), false},
		{"status as a number", replace(t, s, `"placed"`, `1`), false},
		{"bool total", replace(t, s, `"total":"24.65"`, `"total":true`), false},
		{"bad time", replace(t, s, `"cancelledAt":"`, `"cancelledAt":"x`), false},
		{"trailing garbage", s + ",", false},
	})
}

func TestDecodeOrderReturnedFast(t *testing.T) {
	o := NewOrder()
	o.Apply(orderPlaced())
	if err := o.Return(ReturnOrder{Lines: []ReturnLine{{SKU: "85123A", Quantity: dec("7")}}, Reason: "broken"}, t2); err != nil {
		t.Fatal(err)
	}
	s := compactJSON(t, o.Changes()[0])
	runFastCases(t, DecodeOrderReturnedFast, []fastCase{
		{"stored form", s, true},
		{"amount only: no lines", `{"returnNo":2,"amount":"5.00","currency":"GBP","returnedTotal":"22.85","returnedAt":"2026-03-05T09:30:00Z"}`, true},
		{"empty lines", replace(t, s, `"lines":[{"sku":"85123A","quantity":"7","amount":"17.85"}]`, `"lines":[]`), true},
		{"two lines", replace(t, s, `"amount":"17.85"}]`, `"amount":"17.85"},{"sku":"71053","quantity":"1","amount":"0.85"}]`), true},
		{"negative zero returnNo", replace(t, s, `"returnNo":1`, `"returnNo":-0`), true},
		{"negative returnNo", replace(t, s, `"returnNo":1`, `"returnNo":-17`), true},
		{"18-digit returnNo", replace(t, s, `"returnNo":1`, `"returnNo":999999999999999999`), true},
		{"19-digit returnNo", replace(t, s, `"returnNo":1`, `"returnNo":1000000000000000000`), false},
		{"returnNo out of int64", replace(t, s, `"returnNo":1`, `"returnNo":99999999999999999999`), false},
		{"fractional returnNo", replace(t, s, `"returnNo":1`, `"returnNo":1.0`), false},
		{"exponent returnNo", replace(t, s, `"returnNo":1`, `"returnNo":1e0`), false},
		{"leading zero returnNo", replace(t, s, `"returnNo":1`, `"returnNo":01`), false},
		{"minus only", replace(t, s, `"returnNo":1`, `"returnNo":-`), false},
		{"plus sign returnNo", replace(t, s, `"returnNo":1`, `"returnNo":+1`), false},
		{"string returnNo", replace(t, s, `"returnNo":1`, `"returnNo":"1"`), false},
		{"null returnNo", replace(t, s, `"returnNo":1`, `"returnNo":null`), false},
		{"null lines", replace(t, s, `"lines":[{"sku":"85123A","quantity":"7","amount":"17.85"}]`, `"lines":null`), false},
		{"order line key in a return line", replace(t, s, `"sku":"85123A"`, `"sku":"85123A","unitPrice":"2.55"`), false},
		{"duplicate return line key", replace(t, s, `"sku":"85123A"`, `"sku":"85123A","sku":"X"`), false},
		{"line key differs by case", replace(t, s, `"quantity":"7"`, `"Quantity":"7"`), false},
		{"numeric line amount", replace(t, s, `"amount":"17.85"}`, `"amount":17.85}`), false},
		{"trailing garbage", s + "]", false},
	})
}

func TestDecodeCustomerRegisteredFast(t *testing.T) {
	reg := registered()
	reg.Profile = Profile{Name: "Acme Ltd", Region: "United Kingdom", Industry: "Retail", Address: "1 High St, London", Zip: "EC1A 1AA",
		Phone: "+44 20 7946 0001", Fax: "+44 20 7946 0002", Website: "https://acme.example", LicenceNo: "LN-1", LegalRepresentative: "J. Doe",
		RegisteredCapital: "1000000.00", AnnualRevenue: "25000000", Bank: "Barclays", BankAccount: "GB33BUKB20201555555555",
		LocalTaxNo: "LT-1", NationalTaxNo: "GB123456789"}
	reg.Credit, reg.Satisfaction, reg.ExternalRef = 4, 5, "online-retail:12346"
	reg.OpportunityID = ptr(oppID)
	s := compactJSON(t, reg)
	runFastCases(t, DecodeCustomerRegisteredFast, []fastCase{
		{"stored form, every field", s, true},
		{"minimal", compactJSON(t, registered()), true},
		{"non-ASCII name", replace(t, s, "Acme Ltd", "Ĳzerwaren Müller 株式会社"), true},
		{"time in a zone", replace(t, s, "2026-03-02T09:30:00Z", "2026-03-02T04:30:00-05:00"), true},
		{"registeredCapital is not checked", replace(t, s, `"1000000.00"`, `"lots"`), true},
		{"null opportunityId", replace(t, s, `"22222222-2222-4222-8222-222222222222"`, `null`), false},
		{"bad opportunityId", replace(t, s, `"22222222-2222-4222-8222-222222222222"`, `"22222222"`), false},
		{"embedded struct name as a key", replace(t, s, `"name"`, `"Profile":{},"name"`), false},
		{"profile field differs by case", replace(t, s, `"zip"`, `"ZIP"`), false},
		{"duplicate profile field", replace(t, s, `"zip"`, `"zip":"1","zip"`), false},
		{"duplicate level", replace(t, s, `"level":1`, `"level":1,"level":2`), false},
		{"level as exponent", replace(t, s, `"level":1`, `"level":1e0`), false},
		{"level as a string", replace(t, s, `"level":1`, `"level":"1"`), false},
		{"level as a bool", replace(t, s, `"level":1`, `"level":true`), false},
		{"escaped name", replace(t, s, "Acme Ltd", `Acme \/ \"Ltd\" \u0026 Co`), true},
		{"escaped key", replace(t, s, `"zip"`, `"z\u0069p"`), false},
		{"name as an object", replace(t, s, `"Acme Ltd"`, `{}`), false},
		{"trailing garbage", s + " }", false},
	})
}

// FuzzDecode<Type>Fast: whatever the input, the fast decoder never panics,
// and when it accepts, encoding/json accepts too with the same value.

func fuzzSeeds(f *testing.F, typeName string) {
	f.Helper()
	for _, e := range realEvents(f) {
		// Seeds over 1 KB (the 20-line order) are left out: minimizing the
		// inputs found from them takes the fuzzer most of its time.
		if in := compactJSON(f, e); e.EventType() == typeName && len(in) <= 1024 {
			f.Add([]byte(in))
		}
	}
	if in, err := os.ReadFile(filepath.Join(goldenDir, typeName+".json")); err == nil {
		f.Add(in)
	}
	f.Add([]byte(`{"lines":[{}],"level":-0,"returnNo":1e3,"Name":"x","name":"\u00e9"}`))
	f.Add([]byte(`{"lines":[{"description":"7\" \u0026 \ud83c\udfee \\ \/"}],"reason":"\t","name":"\ud83c"}`))
}

func FuzzDecodeOrderPlacedFast(f *testing.F) {
	fuzzSeeds(f, TypeOrderPlaced)
	f.Add([]byte(compactJSON(f, retailOrder(f, 2))))
	f.Fuzz(func(t *testing.T, b []byte) { agreeWithJSON(t, DecodeOrderPlacedFast, b) })
}

// FuzzDecodeOrderPlacedFastFields splices fuzzed text into the string,
// decimal and time values of a stored order, so that most inputs are
// accepted and the comparison with encoding/json covers string contents
// (escapes, UTF-8), decimals and times rather than mostly broken JSON.
func FuzzDecodeOrderPlacedFastFields(f *testing.F) {
	f.Add(`WHITE HANGING HEART T-LIGHT HOLDER`, "6", "2010-12-01T08:26:00Z")
	f.Add(`RECORD FRAME 7\" SINGLE \u0026 \ud83c\udfee \\ \/ été`, "-0.50", "2026-03-02T10:30:00.5+01:00")
	f.Add(`\u00e`, "1.0000000000001", "2026-03-02t09:30:00z")
	f.Fuzz(func(t *testing.T, text, decimal, when string) {
		in := `{"orderId":"44444444-4444-4444-8444-444444444444","customerId":"11111111-1111-4111-8111-111111111111","orderNo":"` + text +
			`","orderedAt":"` + when + `","currency":"GBP","lines":[{"sku":"85123A","description":"` + text + `","quantity":"` + decimal +
			`","unitPrice":"2.55","amount":"15.30"},{"sku":"` + text + `","quantity":"1","unitPrice":"` + decimal + `"}],"total":"` + decimal + `"}`
		agreeWithJSON(t, DecodeOrderPlacedFast, []byte(in))
	})
}

func FuzzDecodeOrderCancelledFast(f *testing.F) {
	fuzzSeeds(f, TypeOrderCancelled)
	f.Fuzz(func(t *testing.T, b []byte) { agreeWithJSON(t, DecodeOrderCancelledFast, b) })
}

func FuzzDecodeOrderReturnedFast(f *testing.F) {
	fuzzSeeds(f, TypeOrderReturned)
	f.Fuzz(func(t *testing.T, b []byte) { agreeWithJSON(t, DecodeOrderReturnedFast, b) })
}

func FuzzDecodeCustomerRegisteredFast(f *testing.F) {
	fuzzSeeds(f, TypeCustomerRegistered)
	f.Fuzz(func(t *testing.T, b []byte) { agreeWithJSON(t, DecodeCustomerRegisteredFast, b) })
}

// BenchmarkDecodeOrderPlaced compares the fast decoder with encoding/json
// on an Online Retail order of 20 lines (about 2 KB stored).
func BenchmarkDecodeOrderPlaced(b *testing.B) {
	in := []byte(compactJSON(b, retailOrder(b, 20)))
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, ok := DecodeOrderPlacedFast(in); !ok {
				b.Fatal("refused")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			var e OrderPlaced
			if err := json.Unmarshal(in, &e); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
	})
}
