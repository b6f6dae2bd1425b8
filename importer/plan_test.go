package importer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const csvHeader = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"

func collect(t *testing.T, body string) *Dataset {
	t.Helper()
	rd, err := NewReader(strings.NewReader(csvHeader+body), london(t))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := Collect(rd)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// describe renders a customer's actions compactly.
func describe(c *Customer) []string {
	var out []string
	for _, a := range c.Actions {
		switch a.Kind {
		case ActPlace:
			out = append(out, "place "+a.Invoice.No)
		case ActCancel:
			out = append(out, "cancel "+a.Order.No+" by "+a.Invoice.No)
		case ActReturn:
			if len(a.Lines) == 0 {
				out = append(out, fmt.Sprintf("refund %s on %s by %s", a.Amount, a.Order.No, a.Invoice.No))
				continue
			}
			var ls []string
			for _, l := range a.Lines {
				ls = append(ls, fmt.Sprintf("%s×%d", l.SKU, l.Quantity))
			}
			out = append(out, fmt.Sprintf("return %s on %s by %s", strings.Join(ls, " "), a.Order.No, a.Invoice.No))
		}
	}
	return out
}

func TestCollect(t *testing.T) {
	ds := collect(t, ""+
		"1001,A,a,1,2011-01-01 10:00:00,1.00,1.0,France\n"+
		"1002,B,b,2,2011-01-01 11:00:00,1.00,2.0,Spain\n"+
		"1001,C,c,3,2011-01-01 09:59:00,2.00,1.0,France\n"+ // not contiguous, and a minute earlier
		"1003,A,a,1,2011-01-01 12:00:00,1.00,,France\n"+ // guest
		"1003,A,a,-1,2011-01-01 12:00:00,0,,France\n"+ // guest (a stock adjustment)
		"A1004,B,Adjust bad debt,1,2011-01-01 12:00:00,5.00,1.0,France\n"+
		"1005,A,a,0,2011-01-01 12:00:00,1.00,1.0,France\n"+
		"1006,A,damaged,-5,2011-01-01 12:00:00,0,1.0,France\n"+
		"C1007,A,a,2,2011-01-01 12:00:00,1.00,1.0,France\n"+
		"1008,A,a,1,2011-01-01 12:00:00,-1.00,1.0,France\n"+
		"1002,A,a,1,2011-01-01 11:00:00,1.00,1.0,Spain\n"+ // another customer on 1002
		"1009,A,free,1,2011-01-01 12:00:00,0,1.0,France\n") // a free line is kept
	if ds.Rows != 12 || ds.GuestLines != 2 || ds.GuestInvoices != 1 {
		t.Errorf("rows %d, guest lines %d, guest invoices %d; want 12, 2, 1", ds.Rows, ds.GuestLines, ds.GuestInvoices)
	}
	wantSkipped := map[SkipReason]int{
		SkipAdjustment: 1, SkipZeroQuantity: 1, SkipNegativeSale: 1, SkipPositiveCancel: 1,
		SkipNegativePrice: 1, SkipCustomerMismatch: 1,
	}
	if diff := cmp.Diff(wantSkipped, ds.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	var got []string
	for _, inv := range ds.Invoices {
		var skus []string
		for _, l := range inv.Lines {
			skus = append(skus, fmt.Sprintf("%s×%d@%d", l.SKU, l.Quantity, l.SourceLine))
		}
		got = append(got, fmt.Sprintf("%s %s %s %s", inv.No, inv.CustomerID, inv.Time.Format("15:04"), strings.Join(skus, " ")))
	}
	want := []string{
		"1001 1 09:59 A×1@2 C×3@4",
		"1002 2 11:00 B×2@3",
		"1009 1 12:00 A×1@13",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("invoices (-want +got):\n%s", diff)
	}
}

func TestPlanCancellations(t *testing.T) {
	ds := collect(t, ""+
		// Customer 1: an order, a cancellation of exactly it, then the same
		// again: the cancelled order is not matched twice.
		"1001,A,a,2,2011-02-01 10:00:00,1.00,1.0,France\n"+
		"1001,B,b,1,2011-02-01 10:00:00,3.00,1.0,France\n"+
		"1002,A,a,2,2011-02-02 10:00:00,1.00,1.0,France\n"+
		"1002,B,b,1,2011-02-02 10:00:00,3.00,1.0,France\n"+
		"C1003,B,b,-1,2011-02-03 10:00:00,3.00,1.0,France\n"+
		"C1003,A,a,-2,2011-02-03 10:00:00,1.00,1.0,France\n"+
		// Same lines again: 1002 is cancelled, 1001 is still whole.
		"C1004,A,a,-2,2011-02-04 10:00:00,1.00,1.0,France\n"+
		"C1004,B,b,-1,2011-02-04 10:00:00,3.00,1.0,France\n"+
		// Customer 2: partial return from one order, then one split over
		// two orders, then goods never ordered (refund), then a refund too
		// big for the latest order (unmatched).
		"2001,A,a,5,2011-03-01 10:00:00,1.00,2.0,Spain\n"+
		"2001,B,b,5,2011-03-01 10:00:00,2.00,2.0,Spain\n"+
		"2002,A,a,3,2011-03-02 10:00:00,1.00,2.0,Spain\n"+
		"2002,C,c,1,2011-03-02 10:00:00,10.00,2.0,Spain\n"+
		"C2003,A,a,-1,2011-03-03 10:00:00,1.00,2.0,Spain\n"+ // 2002 holds it
		"C2004,A,a,-4,2011-03-04 10:00:00,1.00,2.0,Spain\n"+ // 2 from 2002, 2 from 2001
		"C2004,Z,z,-1,2011-03-04 10:00:00,0.50,2.0,Spain\n"+ // never ordered: refund 0.50 on 2002
		"C2005,Y,y,-1,2011-03-05 10:00:00,99.00,2.0,Spain\n"+ // too big for what is left of 2002 (9.50)
		// Customer 3: a cancellation before any order, then an order.
		"C3001,A,a,-1,2011-01-01 10:00:00,1.00,3.0,Italy\n"+
		"3002,A,a,1,2011-01-02 10:00:00,1.00,3.0,Italy\n")
	p := NewPlan(ds)
	got := map[string][]string{}
	for _, c := range p.Customers {
		got[c.SourceID] = describe(c)
	}
	want := map[string][]string{
		"1": {"place 1001", "place 1002", "cancel 1002 by C1003", "cancel 1001 by C1004"},
		"2": {
			"place 2001", "place 2002",
			"return A×1 on 2002 by C2003",
			"return A×2 on 2001 by C2004", "return A×2 on 2002 by C2004", "refund 0.50 on 2002 by C2004",
		},
		"3": {"place 3002"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	counts := [...]int{p.Orders, p.Cancellations, p.OrdersCancelled, p.Returns, p.AmountReturns, p.UnmatchedCancels, p.UnmatchedLines}
	if want := [...]int{5, 6, 2, 4, 1, 1, 2}; counts != want {
		t.Errorf("orders, cancellations, cancelled, returns, amount returns, unmatched cancellations, unmatched lines = %v, want %v", counts, want)
	}
	if c := p.Customers[2]; c.Region != "Italy" || !c.RegisteredAt.Equal(ds.Invoices[len(ds.Invoices)-2].Time) {
		t.Errorf("customer 3 region %q registered %v: want Italy at its first invoice (the cancellation)", c.Region, c.RegisteredAt)
	}
}

func TestPlanRegion(t *testing.T) {
	// The region is the country of the first invoice in time, not in the file.
	ds := collect(t, ""+
		"1002,A,a,1,2011-05-01 10:00:00,1.00,7.0,Spain\n"+
		"1001,A,a,1,2011-04-01 10:00:00,1.00,7.0,France\n")
	p := NewPlan(ds)
	if c := p.Customers[0]; c.Region != "France" || c.Countries != 2 || p.MultiCountryCustomers != 1 {
		t.Errorf("region %q, countries %d, multi %d; want France, 2, 1", c.Region, c.Countries, p.MultiCountryCustomers)
	}
	if got := describe(p.Customers[0]); !cmp.Equal(got, []string{"place 1001", "place 1002"}) {
		t.Errorf("actions %v: want business-time order", got)
	}
}

func TestStableIDs(t *testing.T) {
	// The ids are part of the stored data: pin them.
	if got, want := CustomerUUID("17850").String(), CustomerUUID("17850").String(); got != want {
		t.Fatal("not deterministic")
	}
	if CustomerUUID("17850") == CustomerUUID("17851") || OrderUUID("536365") == CustomerUUID("536365") {
		t.Error("ids collide")
	}
	if got := CustomerUUID("17850").Version(); got != 5 {
		t.Errorf("version %d, want 5", got)
	}
}
