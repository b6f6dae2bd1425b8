package writeapi

import (
	"net/http"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/internal/httpx"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
)

// decimalValue wraps a parsed decimal.
type decimalValue struct{ d domain.Decimal }

func (v *decimalValue) ptr() *domain.Decimal {
	if v == nil {
		return nil
	}
	d := v.d
	return &d
}

func (v *decimalValue) val() domain.Decimal {
	if v == nil {
		return domain.Decimal{}
	}
	return v.d
}

type handlerFunc = func(c *gin.Context, o commands.Options) (commands.Result, error)

// body decodes the request body into a T.
func body[T any](c *gin.Context) (T, error) {
	var b T
	err := decode(c, &b)
	return b, err
}

// idText reads the aggregate id (idOf), decodes a B and requires its one
// text field (named field in the body, read by get): the shape of the
// commands that take a single reason, measure, assignee or handling text.
func idText[B any](c *gin.Context, idOf func(*gin.Context) (uuid.UUID, error), field string, get func(B) *string) (uuid.UUID, string, error) {
	id, err := idOf(c)
	if err != nil {
		return uuid.Nil, "", err
	}
	b, err := body[B](c)
	if err != nil {
		return uuid.Nil, "", err
	}
	var f fields
	v := f.requiredText(field, get(b))
	return id, v, f.err()
}

func customerID(c *gin.Context) (uuid.UUID, error) { return pathID(c, "id", "customer") }

type prospectBody struct {
	Name         *string `json:"name"`
	ContactName  *string `json:"contactName"`
	ContactPhone *string `json:"contactPhone"`
}

type createOpportunityBody struct {
	ID            string        `json:"id"`
	Title         *string       `json:"title"`
	Source        *string       `json:"source"`
	CustomerID    *string       `json:"customerId"`
	Prospect      *prospectBody `json:"prospect"`
	SuccessRate   *int          `json:"successRate"`
	ExpectedValue decimalText   `json:"expectedValue"`
	Currency      *string       `json:"currency"`
	Description   *string       `json:"description"`
}

type changeOpportunityBody struct {
	Title         *string       `json:"title"`
	Source        *string       `json:"source"`
	Description   *string       `json:"description"`
	SuccessRate   *int          `json:"successRate"`
	ExpectedValue decimalText   `json:"expectedValue"`
	Currency      *string       `json:"currency"`
	Prospect      *prospectBody `json:"prospect"`
}

type assignBody struct {
	AssigneeID *string `json:"assigneeId"`
}

type planItemBody struct {
	ID      string  `json:"id"`
	DueDate *string `json:"dueDate"`
	Action  *string `json:"action"`
}

type planItemChangeBody struct {
	DueDate *string `json:"dueDate"`
	Action  *string `json:"action"`
}

type resultBody struct {
	Result *string `json:"result"`
}

type winBody struct {
	Amount   decimalText `json:"amount"`
	Currency *string     `json:"currency"`
}

type openServiceRequestBody struct {
	ID         string  `json:"id"`
	CustomerID *string `json:"customerId"`
	Type       *string `json:"type"`
	Title      *string `json:"title"`
	Request    *string `json:"request"`
	Channel    *string `json:"channel"`
}

type handleBody struct {
	Handling *string `json:"handling"`
}

type feedbackBody struct {
	Result       *string `json:"result"`
	Satisfaction *int    `json:"satisfaction"`
}

type orderLineBody struct {
	SKU         textValue   `json:"sku"`
	Description textValue   `json:"description"`
	Quantity    decimalText `json:"quantity"`
	Unit        textValue   `json:"unit"`
	UnitPrice   decimalText `json:"unitPrice"`
}

type placeOrderBody struct {
	ID              string          `json:"id"`
	CustomerID      *string         `json:"customerId"`
	OrderNo         *string         `json:"orderNo"`
	OrderedAt       *string         `json:"orderedAt"`
	Currency        *string         `json:"currency"`
	Lines           []orderLineBody `json:"lines"`
	ShippingAddress *string         `json:"shippingAddress"`
}

type shipBody struct {
	Carrier    *string `json:"carrier"`
	TrackingNo *string `json:"trackingNo"`
}

type deliverBody struct {
	DeliveredAt *string `json:"deliveredAt"`
}

type paymentBody struct {
	Amount    decimalText `json:"amount"`
	Currency  *string     `json:"currency"`
	Reference *string     `json:"reference"`
}

type returnLineBody struct {
	SKU      textValue   `json:"sku"`
	Quantity decimalText `json:"quantity"`
}

type returnBody struct {
	Lines  []returnLineBody `json:"lines"`
	Amount decimalText      `json:"amount"`
	Reason *string          `json:"reason"`
}

func idx(prefix string, i int, field string) string {
	return prefix + "[" + itoa(i) + "]." + field
}

// placeOrderInput validates a place-order body.
func placeOrderInput(b placeOrderBody) (commands.PlaceOrder, error) {
	var f fields
	in := commands.PlaceOrder{ID: b.ID}
	if id := f.uuid("customerId", b.CustomerID, true); id != nil {
		in.CustomerID = *id
	}
	in.OrderNo = text(b.OrderNo)
	in.OrderedAt = f.time("orderedAt", b.OrderedAt, false)
	in.Currency = f.requiredText("currency", b.Currency)
	in.ShippingAddress = text(b.ShippingAddress)
	if len(b.Lines) == 0 {
		f.add("lines", "at least one line is required")
	}
	for i, l := range b.Lines {
		line := domain.OrderLine{
			SKU:         f.textOf(idx("lines", i, "sku"), l.SKU, true),
			Description: f.textOf(idx("lines", i, "description"), l.Description, false),
			Unit:        f.textOf(idx("lines", i, "unit"), l.Unit, false),
			Quantity:    f.decimalOf(idx("lines", i, "quantity"), l.Quantity, true).val(),
			UnitPrice:   f.decimalOf(idx("lines", i, "unitPrice"), l.UnitPrice, true).val(),
		}
		in.Lines = append(in.Lines, line)
	}
	return in, f.err()
}

func (a *api) opportunityRoutes() []route {
	oppID := func(c *gin.Context) (uuidT, error) { return pathID(c, "id", "opportunity") }
	return []route{
		{http.MethodPost, "/opportunities", httpx.OpportunityCreate, http.StatusCreated, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			b, err := body[createOpportunityBody](c)
			if err != nil {
				return commands.Result{}, err
			}
			var f fields
			in := commands.CreateOpportunity{ID: b.ID}
			in.Title = text(b.Title)
			in.Source = text(b.Source)
			in.Description = text(b.Description)
			if b.SuccessRate != nil {
				in.SuccessRate = *b.SuccessRate
			}
			in.CustomerID = f.uuid("customerId", b.CustomerID, false)
			if b.Prospect != nil {
				in.Prospect = &domain.Prospect{Name: text(b.Prospect.Name), ContactName: text(b.Prospect.ContactName), ContactPhone: text(b.Prospect.ContactPhone)}
			}
			in.ExpectedValue = f.decimalOf("expectedValue", b.ExpectedValue, false).ptr()
			in.Currency = text(b.Currency)
			if err := f.err(); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.CreateOpportunity(c.Request.Context(), o, in)
		}},
		{http.MethodPatch, "/opportunities/:id", httpx.OpportunityChange, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := oppID(c)
			if err != nil {
				return commands.Result{}, err
			}
			b, err := body[changeOpportunityBody](c)
			if err != nil {
				return commands.Result{}, err
			}
			var f fields
			p := domain.OpportunityChange{Title: b.Title, Source: b.Source, Description: b.Description, SuccessRate: b.SuccessRate, Currency: b.Currency}
			if b.ExpectedValue.set && !b.ExpectedValue.bad && b.ExpectedValue.text == "" {
				p.ClearExpectedValue = true
			} else {
				p.ExpectedValue = f.decimalOf("expectedValue", b.ExpectedValue, false).ptr()
			}
			if b.Prospect != nil {
				p.ProspectName, p.ProspectContact, p.ProspectPhone = b.Prospect.Name, b.Prospect.ContactName, b.Prospect.ContactPhone
			}
			if err := f.err(); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.ChangeOpportunity(c.Request.Context(), o, id, p)
		}},
		{http.MethodPost, "/opportunities/:id/assign", httpx.OpportunityAssign, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, v, err := idText(c, oppID, "assigneeId", func(b assignBody) *string { return b.AssigneeID })
			if err != nil {
				return commands.Result{}, err
			}
			return a.cmd.AssignOpportunity(c.Request.Context(), o, id, v)
		}},
		{http.MethodPost, "/opportunities/:id/plan-items", httpx.OpportunityAddPlanItem, http.StatusCreated, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := oppID(c)
			if err != nil {
				return commands.Result{}, err
			}
			b, err := body[planItemBody](c)
			if err != nil {
				return commands.Result{}, err
			}
			var f fields
			due := f.date("dueDate", b.DueDate, true)
			action := f.requiredText("action", b.Action)
			if err := f.err(); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.AddPlanItem(c.Request.Context(), o, id, b.ID, due, action)
		}},
		{http.MethodPatch, "/opportunities/:id/plan-items/:itemId", httpx.OpportunityChangePlanItem, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := oppID(c)
			if err != nil {
				return commands.Result{}, err
			}
			itemID, err := pathID(c, "itemId", "plan item")
			if err != nil {
				return commands.Result{}, err
			}
			b, err := body[planItemChangeBody](c)
			if err != nil {
				return commands.Result{}, err
			}
			var f fields
			p := domain.PlanItemChange{Action: b.Action}
			if b.DueDate != nil {
				d := f.date("dueDate", b.DueDate, true)
				p.DueDate = &d
			}
			if err := f.err(); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.ChangePlanItem(c.Request.Context(), o, id, itemID, p)
		}},
		{http.MethodPost, "/opportunities/:id/plan-items/:itemId/result", httpx.OpportunityRecordResult, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := oppID(c)
			if err != nil {
				return commands.Result{}, err
			}
			itemID, err := pathID(c, "itemId", "plan item")
			if err != nil {
				return commands.Result{}, err
			}
			b, err := body[resultBody](c)
			if err != nil {
				return commands.Result{}, err
			}
			var f fields
			v := f.requiredText("result", b.Result)
			if err := f.err(); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.RecordPlanItemResult(c.Request.Context(), o, id, itemID, v)
		}},
		{http.MethodPost, "/opportunities/:id/win", httpx.OpportunityWin, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := oppID(c)
			if err != nil {
				return commands.Result{}, err
			}
			b, err := body[winBody](c)
			if err != nil {
				return commands.Result{}, err
			}
			var f fields
			p := domain.WinOpportunity{Amount: f.decimalOf("amount", b.Amount, false).ptr(), Currency: text(b.Currency)}
			if err := f.err(); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.WinOpportunity(c.Request.Context(), o, id, p)
		}},
		{http.MethodPost, "/opportunities/:id/lose", httpx.OpportunityLose, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, v, err := idText(c, oppID, "reason", func(b reasonBody) *string { return b.Reason })
			if err != nil {
				return commands.Result{}, err
			}
			return a.cmd.LoseOpportunity(c.Request.Context(), o, id, v)
		}},
	}
}

func (a *api) serviceRoutes() []route {
	srID := func(c *gin.Context) (uuidT, error) { return pathID(c, "id", "service request") }
	return []route{
		{http.MethodPost, "/service-requests", httpx.ServiceRequestOpen, http.StatusCreated, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			b, err := body[openServiceRequestBody](c)
			if err != nil {
				return commands.Result{}, err
			}
			var f fields
			in := commands.OpenServiceRequest{ID: b.ID}
			if id := f.uuid("customerId", b.CustomerID, true); id != nil {
				in.CustomerID = *id
			}
			in.Type = f.requiredText("type", b.Type)
			in.Title = f.requiredText("title", b.Title)
			in.Request = f.requiredText("request", b.Request)
			in.Channel = text(b.Channel)
			if err := f.err(); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.OpenServiceRequest(c.Request.Context(), o, in)
		}},
		{http.MethodPost, "/service-requests/:id/assign", httpx.ServiceRequestAssign, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, v, err := idText(c, srID, "assigneeId", func(b assignBody) *string { return b.AssigneeID })
			if err != nil {
				return commands.Result{}, err
			}
			return a.cmd.AssignServiceRequest(c.Request.Context(), o, id, v)
		}},
		{http.MethodPost, "/service-requests/:id/handle", httpx.ServiceRequestHandle, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, v, err := idText(c, srID, "handling", func(b handleBody) *string { return b.Handling })
			if err != nil {
				return commands.Result{}, err
			}
			return a.cmd.HandleServiceRequest(c.Request.Context(), o, id, v)
		}},
		{http.MethodPost, "/service-requests/:id/feedback", httpx.ServiceRequestFeedback, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := srID(c)
			if err != nil {
				return commands.Result{}, err
			}
			b, err := body[feedbackBody](c)
			if err != nil {
				return commands.Result{}, err
			}
			var f fields
			p := domain.Feedback{Result: f.requiredText("result", b.Result), Satisfaction: f.requiredInt("satisfaction", b.Satisfaction)}
			if err := f.err(); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.RecordServiceFeedback(c.Request.Context(), o, id, p)
		}},
	}
}

func (a *api) orderRoutes() []route {
	orderID := func(c *gin.Context) (uuidT, error) { return pathID(c, "id", "order") }
	return []route{
		{http.MethodPost, "/orders", httpx.OrderPlace, http.StatusCreated, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			b, err := body[placeOrderBody](c)
			if err != nil {
				return commands.Result{}, err
			}
			in, err := placeOrderInput(b)
			if err != nil {
				return commands.Result{}, err
			}
			return a.cmd.PlaceOrder(c.Request.Context(), o, in)
		}},
		{http.MethodPost, "/orders/:id/ship", httpx.OrderShip, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := orderID(c)
			if err != nil {
				return commands.Result{}, err
			}
			b, err := body[shipBody](c)
			if err != nil {
				return commands.Result{}, err
			}
			return a.cmd.ShipOrder(c.Request.Context(), o, id, domain.Shipment{Carrier: text(b.Carrier), TrackingNo: text(b.TrackingNo)})
		}},
		{http.MethodPost, "/orders/:id/deliver", httpx.OrderDeliver, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := orderID(c)
			if err != nil {
				return commands.Result{}, err
			}
			b, err := body[deliverBody](c)
			if err != nil {
				return commands.Result{}, err
			}
			var f fields
			at := f.time("deliveredAt", b.DeliveredAt, false)
			if err := f.err(); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.DeliverOrder(c.Request.Context(), o, id, at)
		}},
		{http.MethodPost, "/orders/:id/payments", httpx.OrderRecordPayment, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := orderID(c)
			if err != nil {
				return commands.Result{}, err
			}
			b, err := body[paymentBody](c)
			if err != nil {
				return commands.Result{}, err
			}
			var f fields
			p := domain.Payment{Amount: f.decimalOf("amount", b.Amount, true).val(), Currency: text(b.Currency), Reference: text(b.Reference)}
			if err := f.err(); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.RecordPayment(c.Request.Context(), o, id, p)
		}},
		{http.MethodPost, "/orders/:id/cancel", httpx.OrderCancel, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, v, err := idText(c, orderID, "reason", func(b reasonBody) *string { return b.Reason })
			if err != nil {
				return commands.Result{}, err
			}
			return a.cmd.CancelOrder(c.Request.Context(), o, id, v)
		}},
		{http.MethodPost, "/orders/:id/returns", httpx.OrderReturn, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := orderID(c)
			if err != nil {
				return commands.Result{}, err
			}
			b, err := body[returnBody](c)
			if err != nil {
				return commands.Result{}, err
			}
			var f fields
			r := domain.ReturnOrder{Amount: f.decimalOf("amount", b.Amount, false).ptr(), Reason: text(b.Reason)}
			for i, l := range b.Lines {
				r.Lines = append(r.Lines, domain.ReturnLine{
					SKU:      f.textOf(idx("lines", i, "sku"), l.SKU, true),
					Quantity: f.decimalOf(idx("lines", i, "quantity"), l.Quantity, true).val(),
				})
			}
			if err := f.err(); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.ReturnOrder(c.Request.Context(), o, id, r)
		}},
	}
}

func (a *api) routes() []route {
	var out []route
	out = append(out, a.customerRoutes()...)
	out = append(out, a.opportunityRoutes()...)
	out = append(out, a.serviceRoutes()...)
	out = append(out, a.orderRoutes()...)
	return out
}
