package domain

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func registered() CustomerRegistered {
	return CustomerRegistered{CustomerID: custID, Profile: Profile{Name: "Acme Ltd", Region: "United Kingdom"},
		Level: 1, OwnerID: "rep-1", RegisteredAt: t0}
}

func contactAdded() ContactAdded {
	return ContactAdded{CustomerID: custID, ContactID: contID, Contact: Contact{Name: "Ann Smith", Phone: "+44 1"}}
}

func warned(at time.Time) ChurnWarningRaised {
	return ChurnWarningRaised{CustomerID: custID, Why: ChurnWhyRule, Signals: []ChurnSignal{{Signal: "recency", Contribution: 100, Detail: "no order for 212 days"}},
		PreviousStatus: CustomerStatusActive, RaisedAt: at}
}

type cs = scenario[*Customer]

func TestCustomerRegister(t *testing.T) {
	run(t, NewCustomer, []cs{
		{name: "minimal: default level 1, trimmed", when: func(c *Customer) error {
			return c.Register(custID, RegisterCustomer{Profile: Profile{Name: "  Acme Ltd ", Region: "United Kingdom"}, OwnerID: "rep-1"}, t0)
		}, then: []Event{registered()}},
		{name: "all fields", when: func(c *Customer) error {
			return c.Register(custID, RegisterCustomer{Profile: Profile{Name: "Acme", RegisteredCapital: "1000000.00", AnnualRevenue: "25.5"},
				Level: 3, Credit: 4, Satisfaction: 5, ExternalRef: "online-retail:12346"}, t0)
		}, then: []Event{CustomerRegistered{CustomerID: custID, Profile: Profile{Name: "Acme", RegisteredCapital: "1000000.00", AnnualRevenue: "25.5"},
			Level: 3, Credit: 4, Satisfaction: 5, ExternalRef: "online-retail:12346", RegisteredAt: t0}}},
		{name: "local time stored as UTC", when: func(c *Customer) error {
			return c.Register(custID, RegisterCustomer{Profile: Profile{Name: "Acme Ltd", Region: "United Kingdom"}, OwnerID: "rep-1"}, t0.In(fixedZone))
		}, then: []Event{registered()}},
		{name: "name required", when: func(c *Customer) error {
			return c.Register(custID, RegisterCustomer{Profile: Profile{Name: "   "}}, t0)
		}, kind: KindInvalid, fields: []string{"name"}},
		{name: "every bad field is named", when: func(c *Customer) error {
			return c.Register(uuid.Nil, RegisterCustomer{Profile: Profile{Name: strings.Repeat("x", 201), RegisteredCapital: "1e6", AnnualRevenue: "-1"},
				Level: 6, Credit: -1, Satisfaction: 9, OwnerID: strings.Repeat("o", 201)}, t0)
		}, kind: KindInvalid, fields: []string{"id", "name", "registeredCapital", "annualRevenue", "level", "credit", "satisfaction", "ownerId"}},
		{name: "twice is a conflict", given: []Event{registered()}, when: func(c *Customer) error {
			return c.Register(custID, RegisterCustomer{Profile: Profile{Name: "Acme Ltd"}}, t0)
		}, kind: KindConflict},
	})
}

func TestCustomerCommandsNeedACustomer(t *testing.T) {
	cmds := map[string]func(c *Customer) error{
		"ChangeProfile":     func(c *Customer) error { return c.ChangeProfile(ProfileChange{Name: ptr("x")}, t0) },
		"ChangeLevel":       func(c *Customer) error { return c.ChangeLevel(2, t0) },
		"RateCredit":        func(c *Customer) error { return c.RateCredit(2, t0) },
		"RateSatisfaction":  func(c *Customer) error { return c.RateSatisfaction(2, t0) },
		"AssignOwner":       func(c *Customer) error { return c.AssignOwner("x", t0) },
		"AddContact":        func(c *Customer) error { return c.AddContact(contID, Contact{Name: "x"}, t0) },
		"ChangeContact":     func(c *Customer) error { return c.ChangeContact(contID, ContactChange{}, t0) },
		"RemoveContact":     func(c *Customer) error { return c.RemoveContact(contID, t0) },
		"LogInteraction":    func(c *Customer) error { return c.LogInteraction(intID, Interaction{}, t0) },
		"RaiseChurnWarning": func(c *Customer) error { return c.RaiseChurnWarning(ChurnWarning{Why: "rule"}, t0) },
		"DeferChurn":        func(c *Customer) error { return c.DeferChurn("x", t0) },
		"ConfirmChurn":      func(c *Customer) error { return c.ConfirmChurn("x", t0) },
		"ClearChurnWarning": func(c *Customer) error { return c.ClearChurnWarning("", t0) },
		"Reactivate":        func(c *Customer) error { return c.Reactivate("", t0) },
	}
	var cases []cs
	for name, f := range cmds {
		cases = append(cases, cs{name: name, when: f, kind: KindNotFound})
	}
	run(t, NewCustomer, cases)
}

func TestCustomerChangeProfile(t *testing.T) {
	given := []Event{registered()}
	run(t, NewCustomer, []cs{
		{name: "changes only what differs", given: given, when: func(c *Customer) error {
			return c.ChangeProfile(ProfileChange{Name: ptr("Acme Ltd"), Region: ptr("France"), Phone: ptr(" +33 1 "), Fax: ptr("")}, t1)
		}, then: []Event{CustomerProfileChanged{CustomerID: custID,
			Changes: []FieldChange{{Field: "region", From: "United Kingdom", To: "France"}, {Field: "phone", From: "", To: "+33 1"}},
			Profile: Profile{Name: "Acme Ltd", Region: "France", Phone: "+33 1"}}}},
		{name: "clearing a field", given: given, when: func(c *Customer) error {
			return c.ChangeProfile(ProfileChange{Region: ptr("")}, t1)
		}, then: []Event{CustomerProfileChanged{CustomerID: custID,
			Changes: []FieldChange{{Field: "region", From: "United Kingdom", To: ""}}, Profile: Profile{Name: "Acme Ltd"}}}},
		{name: "no-op: same values", given: given, when: func(c *Customer) error {
			return c.ChangeProfile(ProfileChange{Name: ptr("Acme Ltd "), Region: ptr("United Kingdom")}, t1)
		}, noop: true},
		{name: "no-op: empty patch", given: given, when: func(c *Customer) error { return c.ChangeProfile(ProfileChange{}, t1) }, noop: true},
		{name: "name cannot be cleared", given: given, when: func(c *Customer) error {
			return c.ChangeProfile(ProfileChange{Name: ptr(""), AnnualRevenue: ptr("lots")}, t1)
		}, kind: KindInvalid, fields: []string{"name", "annualRevenue"}},
		{name: "allowed on a lost customer", given: []Event{registered(), ChurnConfirmed{CustomerID: custID, Reason: "moved", PreviousStatus: CustomerStatusActive, ConfirmedAt: t0}},
			when: func(c *Customer) error { return c.ChangeProfile(ProfileChange{Zip: ptr("EC1")}, t1) },
			then: []Event{CustomerProfileChanged{CustomerID: custID, Changes: []FieldChange{{Field: "zip", To: "EC1"}},
				Profile: Profile{Name: "Acme Ltd", Region: "United Kingdom", Zip: "EC1"}}}},
	})
}

func TestCustomerRatings(t *testing.T) {
	given := []Event{registered()}
	run(t, NewCustomer, []cs{
		{name: "level", given: given, when: func(c *Customer) error { return c.ChangeLevel(3, t1) },
			then: []Event{CustomerLevelChanged{CustomerID: custID, From: 1, To: 3}}},
		{name: "level from a changed level", given: plus(given, CustomerLevelChanged{CustomerID: custID, From: 1, To: 3}),
			when: func(c *Customer) error { return c.ChangeLevel(5, t1) }, then: []Event{CustomerLevelChanged{CustomerID: custID, From: 3, To: 5}}},
		{name: "level no-op", given: given, when: func(c *Customer) error { return c.ChangeLevel(1, t1) }, noop: true},
		{name: "level 0", given: given, when: func(c *Customer) error { return c.ChangeLevel(0, t1) }, kind: KindInvalid, fields: []string{"level"}},
		{name: "level 6", given: given, when: func(c *Customer) error { return c.ChangeLevel(6, t1) }, kind: KindInvalid, fields: []string{"level"}},
		{name: "credit first rating", given: given, when: func(c *Customer) error { return c.RateCredit(4, t1) },
			then: []Event{CustomerCreditRated{CustomerID: custID, From: 0, To: 4}}},
		{name: "credit no-op", given: plus(given, CustomerCreditRated{CustomerID: custID, To: 4}),
			when: func(c *Customer) error { return c.RateCredit(4, t1) }, noop: true},
		{name: "credit out of range", given: given, when: func(c *Customer) error { return c.RateCredit(0, t1) }, kind: KindInvalid, fields: []string{"credit"}},
		{name: "satisfaction", given: plus(given, CustomerSatisfactionRated{CustomerID: custID, To: 2}),
			when: func(c *Customer) error { return c.RateSatisfaction(5, t1) }, then: []Event{CustomerSatisfactionRated{CustomerID: custID, From: 2, To: 5}}},
		{name: "satisfaction no-op", given: plus(given, CustomerSatisfactionRated{CustomerID: custID, To: 2}),
			when: func(c *Customer) error { return c.RateSatisfaction(2, t1) }, noop: true},
		{name: "satisfaction out of range", given: given, when: func(c *Customer) error { return c.RateSatisfaction(6, t1) },
			kind: KindInvalid, fields: []string{"satisfaction"}},
		{name: "owner", given: given, when: func(c *Customer) error { return c.AssignOwner(" rep-2 ", t1) },
			then: []Event{CustomerOwnerAssigned{CustomerID: custID, PreviousOwnerID: "rep-1", OwnerID: "rep-2"}}},
		{name: "owner no-op", given: given, when: func(c *Customer) error { return c.AssignOwner("rep-1", t1) }, noop: true},
		{name: "owner required", given: given, when: func(c *Customer) error { return c.AssignOwner(" ", t1) },
			kind: KindInvalid, fields: []string{"ownerId"}},
	})
}

func TestCustomerContacts(t *testing.T) {
	given := []Event{registered(), contactAdded()}
	run(t, NewCustomer, []cs{
		{name: "add", given: given[:1], when: func(c *Customer) error {
			return c.AddContact(contID, Contact{Name: " Ann Smith", Phone: "+44 1"}, t1)
		}, then: []Event{contactAdded()}},
		{name: "add second", given: given, when: func(c *Customer) error {
			return c.AddContact(cont2ID, Contact{Name: "Bob", Email: "bob@example.com"}, t1)
		}, then: []Event{ContactAdded{CustomerID: custID, ContactID: cont2ID, Contact: Contact{Name: "Bob", Email: "bob@example.com"}}}},
		{name: "add same id same fields is a no-op (retry)", given: given, when: func(c *Customer) error {
			return c.AddContact(contID, Contact{Name: "Ann Smith", Phone: "+44 1"}, t1)
		}, noop: true},
		{name: "add same id other fields", given: given, when: func(c *Customer) error {
			return c.AddContact(contID, Contact{Name: "Someone else"}, t1)
		}, kind: KindConflict},
		{name: "add needs a name", given: given[:1], when: func(c *Customer) error {
			return c.AddContact(uuid.Nil, Contact{Memo: strings.Repeat("m", MaxLongText+1)}, t1)
		}, kind: KindInvalid, fields: []string{"contactId", "name", "memo"}},
		{name: "change", given: given, when: func(c *Customer) error {
			return c.ChangeContact(contID, ContactChange{Title: ptr("CFO"), Phone: ptr("+44 2"), Name: ptr("Ann Smith")}, t1)
		}, then: []Event{ContactChanged{CustomerID: custID, ContactID: contID,
			Changes: []FieldChange{{Field: "title", To: "CFO"}, {Field: "phone", From: "+44 1", To: "+44 2"}},
			Contact: Contact{Name: "Ann Smith", Title: "CFO", Phone: "+44 2"}}}},
		{name: "change no-op", given: given, when: func(c *Customer) error {
			return c.ChangeContact(contID, ContactChange{Phone: ptr("+44 1")}, t1)
		}, noop: true},
		{name: "change invalid", given: given, when: func(c *Customer) error {
			return c.ChangeContact(contID, ContactChange{Name: ptr("")}, t1)
		}, kind: KindInvalid, fields: []string{"name"}},
		{name: "change unknown", given: given, when: func(c *Customer) error {
			return c.ChangeContact(cont2ID, ContactChange{Name: ptr("x")}, t1)
		}, kind: KindNotFound},
		{name: "remove", given: given, when: func(c *Customer) error { return c.RemoveContact(contID, t1) },
			then: []Event{ContactRemoved{CustomerID: custID, ContactID: contID, Name: "Ann Smith"}}},
		{name: "remove unknown", given: given, when: func(c *Customer) error { return c.RemoveContact(cont2ID, t1) }, kind: KindNotFound},
		{name: "remove removed", given: plus(given, ContactRemoved{CustomerID: custID, ContactID: contID}),
			when: func(c *Customer) error { return c.RemoveContact(contID, t1) }, kind: KindNotFound},
	})
}

func TestCustomerLogInteraction(t *testing.T) {
	given := []Event{registered(), contactAdded()}
	run(t, NewCustomer, []cs{
		{name: "visit logged the next day", given: given, when: func(c *Customer) error {
			return c.LogInteraction(intID, Interaction{Channel: "visit", OccurredAt: t0.In(fixedZone), Place: "Leeds", Summary: " demo ", Detail: "went well", ContactID: ptr(contID)}, t1)
		}, then: []Event{InteractionLogged{CustomerID: custID, InteractionID: intID, Channel: "visit", OccurredAt: t0, Place: "Leeds",
			Summary: "demo", Detail: "went well", ContactID: ptr(contID)}}},
		{name: "every channel", given: given, when: func(c *Customer) error {
			for i, ch := range Channels {
				if err := c.LogInteraction(DeriveID("i", itoa(i)), Interaction{Channel: ch, OccurredAt: t0, Summary: "s"}, t0); err != nil {
					return err
				}
			}
			return nil
		}, then: func() []Event {
			var es []Event
			for i, ch := range Channels {
				es = append(es, InteractionLogged{CustomerID: custID, InteractionID: DeriveID("i", itoa(i)), Channel: ch, OccurredAt: t0, Summary: "s"})
			}
			return es
		}()},
		{name: "missing required fields", given: given, when: func(c *Customer) error {
			return c.LogInteraction(uuid.Nil, Interaction{}, t1)
		}, kind: KindInvalid, fields: []string{"interactionId", "channel", "occurredAt", "summary"}},
		{name: "unknown channel and contact", given: given, when: func(c *Customer) error {
			return c.LogInteraction(intID, Interaction{Channel: "pigeon", OccurredAt: t0, Summary: "s", ContactID: ptr(cont2ID)}, t1)
		}, kind: KindInvalid, fields: []string{"channel", "contactId"}},
		{name: "occurredAt a day after the command time at most", given: given, when: func(c *Customer) error {
			return c.LogInteraction(intID, Interaction{Channel: Channels[0], OccurredAt: t1.Add(MaxFutureSkew + time.Second), Summary: "s"}, t1)
		}, kind: KindInvalid, fields: []string{"occurredAt"}},
		{name: "occurredAt within the skew is fine", given: given, when: func(c *Customer) error {
			return c.LogInteraction(intID, Interaction{Channel: Channels[0], OccurredAt: t1.Add(MaxFutureSkew), Summary: "s"}, t1)
		}, then: []Event{InteractionLogged{CustomerID: custID, InteractionID: intID, Channel: Channels[0], OccurredAt: t1.Add(MaxFutureSkew), Summary: "s"}}},
	})
}

func TestCustomerChurn(t *testing.T) {
	reg := registered()
	atRisk := []Event{reg, warned(t0)}
	lost := []Event{reg, ChurnConfirmed{CustomerID: custID, Reason: "moved", PreviousStatus: CustomerStatusActive, ConfirmedAt: t0}}
	raise := func(at time.Time) func(c *Customer) error {
		return func(c *Customer) error {
			return c.RaiseChurnWarning(ChurnWarning{Why: "rule", Signals: []ChurnSignal{{Signal: "recency", Contribution: 100, Detail: "no order for 212 days"}}}, at)
		}
	}
	run(t, NewCustomer, []cs{
		{name: "raise: active → at_risk", given: []Event{reg}, when: raise(t0), then: []Event{warned(t0)}},
		{name: "raise by score with signals", given: []Event{reg}, when: func(c *Customer) error {
			return c.RaiseChurnWarning(ChurnWarning{Why: "score", Score: ptr(81), Signals: []ChurnSignal{{Signal: "complaints", Contribution: 30.5}}}, t0)
		}, then: []Event{ChurnWarningRaised{CustomerID: custID, Why: "score", Score: ptr(81), Signals: []ChurnSignal{{Signal: "complaints", Contribution: 30.5}},
			PreviousStatus: CustomerStatusActive, RaisedAt: t0}}},
		{name: "raise twice the same day records once", given: []Event{reg}, when: func(c *Customer) error {
			if err := raise(t0)(c); err != nil {
				return err
			}
			return c.RaiseChurnWarning(ChurnWarning{Why: "score", Score: ptr(90)}, t0.Add(3*time.Hour))
		}, then: []Event{warned(t0)}},
		{name: "raise again the same day after a stored warning: no-op", given: atRisk, when: raise(t0), noop: true},
		{name: "raise again the same day after clearing: no-op", given: plus(atRisk, ChurnWarningCleared{CustomerID: custID, ClearedAt: t0}), when: raise(t0), noop: true},
		{name: "raise again the next day", given: atRisk, when: raise(t1), then: []Event{ChurnWarningRaised{CustomerID: custID, Why: ChurnWhyRule,
			Signals: []ChurnSignal{{Signal: "recency", Contribution: 100, Detail: "no order for 212 days"}}, PreviousStatus: CustomerStatusAtRisk, RaisedAt: t1}}},
		{name: "raise without signals", given: []Event{reg}, when: func(c *Customer) error { return c.RaiseChurnWarning(ChurnWarning{Why: "rule"}, t0) },
			then: []Event{ChurnWarningRaised{CustomerID: custID, Why: "rule", Signals: []ChurnSignal{}, PreviousStatus: CustomerStatusActive, RaisedAt: t0}}},
		{name: "raise invalid", given: []Event{reg}, when: func(c *Customer) error {
			return c.RaiseChurnWarning(ChurnWarning{Why: "gut", Score: ptr(101), Signals: []ChurnSignal{{}}}, t0)
		}, kind: KindInvalid, fields: []string{"why", "score", "signals[0].signal"}},
		{name: "raise on a lost customer", given: lost, when: raise(t1), kind: KindConflict},

		{name: "defer", given: atRisk, when: func(c *Customer) error { return c.DeferChurn(" 10% discount ", t1) },
			then: []Event{ChurnDeferred{CustomerID: custID, Measure: "10% discount", DeferredAt: t1}}},
		{name: "defer is repeatable", given: plus(atRisk, ChurnDeferred{CustomerID: custID, Measure: "call", DeferredAt: t0}),
			when: func(c *Customer) error { return c.DeferChurn("call", t1) }, then: []Event{ChurnDeferred{CustomerID: custID, Measure: "call", DeferredAt: t1}}},
		{name: "defer needs a measure", given: atRisk, when: func(c *Customer) error { return c.DeferChurn("", t1) }, kind: KindInvalid, fields: []string{"measure"}},
		{name: "defer an active customer", given: []Event{reg}, when: func(c *Customer) error { return c.DeferChurn("call", t1) }, kind: KindConflict},
		{name: "defer a lost customer", given: lost, when: func(c *Customer) error { return c.DeferChurn("call", t1) }, kind: KindConflict},

		{name: "confirm from at_risk", given: atRisk, when: func(c *Customer) error { return c.ConfirmChurn("went to a competitor", t1) },
			then: []Event{ChurnConfirmed{CustomerID: custID, Reason: "went to a competitor", PreviousStatus: CustomerStatusAtRisk, ConfirmedAt: t1}}},
		{name: "confirm from active", given: []Event{reg}, when: func(c *Customer) error { return c.ConfirmChurn("closed down", t1) },
			then: []Event{ChurnConfirmed{CustomerID: custID, Reason: "closed down", PreviousStatus: CustomerStatusActive, ConfirmedAt: t1}}},
		{name: "confirm without a reason", given: atRisk, when: func(c *Customer) error { return c.ConfirmChurn("  ", t1) },
			kind: KindInvalid, fields: []string{"reason"}},
		{name: "confirm a lost customer", given: lost, when: func(c *Customer) error { return c.ConfirmChurn("again", t1) }, kind: KindConflict},

		{name: "clear", given: atRisk, when: func(c *Customer) error { return c.ClearChurnWarning("ordered again", t1) },
			then: []Event{ChurnWarningCleared{CustomerID: custID, Reason: "ordered again", ClearedAt: t1}}},
		{name: "clear an active customer: no-op", given: []Event{reg}, when: func(c *Customer) error { return c.ClearChurnWarning("", t1) }, noop: true},
		{name: "clear a lost customer", given: lost, when: func(c *Customer) error { return c.ClearChurnWarning("", t1) }, kind: KindConflict},
		{name: "clear reason too long", given: atRisk, when: func(c *Customer) error { return c.ClearChurnWarning(strings.Repeat("r", MaxLongText+1), t1) },
			kind: KindInvalid, fields: []string{"reason"}},

		{name: "reactivate lost", given: lost, when: func(c *Customer) error { return c.Reactivate("won back", t1) },
			then: []Event{CustomerReactivated{CustomerID: custID, Reason: "won back", PreviousStatus: CustomerStatusLost, ReactivatedAt: t1}}},
		{name: "reactivate at_risk", given: atRisk, when: func(c *Customer) error { return c.Reactivate("", t1) },
			then: []Event{CustomerReactivated{CustomerID: custID, PreviousStatus: CustomerStatusAtRisk, ReactivatedAt: t1}}},
		{name: "reactivate active: no-op", given: []Event{reg}, when: func(c *Customer) error { return c.Reactivate("x", t1) }, noop: true},
		{name: "reactivate reason too long", given: lost, when: func(c *Customer) error { return c.Reactivate(strings.Repeat("r", MaxLongText+1), t1) },
			kind: KindInvalid, fields: []string{"reason"}},
		{name: "raise after reactivation", given: plus(lost, CustomerReactivated{CustomerID: custID, PreviousStatus: CustomerStatusLost, ReactivatedAt: t0}),
			when: raise(t1), then: []Event{ChurnWarningRaised{CustomerID: custID, Why: ChurnWhyRule,
				Signals: []ChurnSignal{{Signal: "recency", Contribution: 100, Detail: "no order for 212 days"}}, PreviousStatus: CustomerStatusActive, RaisedAt: t1}}},
	})
}

func TestCustomerStateAndAccessors(t *testing.T) {
	c := NewCustomer()
	if c.Exists() || c.ID() != uuid.Nil || c.Status() != "" {
		t.Fatal("a new customer must be empty")
	}
	for _, e := range []Event{registered(), contactAdded(), &CustomerLevelChanged{CustomerID: custID, From: 1, To: 4}, warned(t0), (*CustomerCreditRated)(nil)} {
		c.Apply(e)
	}
	if !c.Exists() || c.ID() != custID || c.Status() != CustomerStatusAtRisk || c.OwnerID() != "rep-1" || c.Name() != "Acme Ltd" ||
		c.Level() != 4 || c.Credit() != 0 || c.Satisfaction() != 0 || !c.LastChurnWarningAt().Equal(t0) || !c.RegisteredAt().Equal(t0) ||
		c.Profile().Region != "United Kingdom" || c.ExternalRef() != "" {
		t.Errorf("unexpected state %+v", c)
	}
	if got := c.Contacts(); len(got) != 1 || got[0].ID != contID || got[0].Name != "Ann Smith" {
		t.Errorf("contacts = %+v", got)
	}
	if _, ok := c.Contact(cont2ID); ok {
		t.Error("unknown contact found")
	}
	if len(c.Changes()) != 0 {
		t.Error("Apply must not record changes")
	}
	if err := c.ChangeLevel(5, t1); err != nil {
		t.Fatal(err)
	}
	ch := c.Changes()
	ch[0] = nil // the returned slice is a copy
	if c.Changes()[0] == nil {
		t.Error("Changes returned the internal slice")
	}
	c.ClearChanges()
	if len(c.Changes()) != 0 {
		t.Error("ClearChanges kept changes")
	}
	for lvl, name := range map[int]string{1: "standard", 2: "priority prospect", 3: "key account", 4: "partner", 5: "strategic partner", 0: "", 6: ""} {
		if got := LevelName(lvl); got != name {
			t.Errorf("LevelName(%d) = %q, want %q", lvl, got, name)
		}
	}
}
