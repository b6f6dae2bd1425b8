package writeapi

import (
	"net/http"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/internal/httpx"
	"github.com/gin-gonic/gin"
)

type registerCustomerBody struct {
	ID string `json:"id"`
	domain.RegisterCustomer
}

type levelBody struct {
	Level *int `json:"level"`
}

type creditBody struct {
	Credit *int `json:"credit"`
}

type satisfactionBody struct {
	Satisfaction *int `json:"satisfaction"`
}

type ownerBody struct {
	OwnerID *string `json:"ownerId"`
}

type contactBody struct {
	ID string `json:"id"`
	domain.Contact
}

type interactionBody struct {
	ID         string  `json:"id"`
	Channel    *string `json:"channel"`
	OccurredAt *string `json:"occurredAt"`
	Summary    *string `json:"summary"`
	Detail     *string `json:"detail"`
	Place      *string `json:"place"`
	ContactID  *string `json:"contactId"`
}

type measureBody struct {
	Measure *string `json:"measure"`
}

type reasonBody struct {
	Reason *string `json:"reason"`
}

func (a *api) customerRoutes() []route {
	return []route{
		{http.MethodPost, "/customers", httpx.CustomerRegister, http.StatusCreated, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			var b registerCustomerBody
			if err := decode(c, &b); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.RegisterCustomer(c.Request.Context(), o, commands.RegisterCustomer{ID: b.ID, RegisterCustomer: b.RegisterCustomer})
		}},
		{http.MethodPatch, "/customers/:id", httpx.CustomerChangeProfile, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := pathID(c, "id", "customer")
			if err != nil {
				return commands.Result{}, err
			}
			var b domain.ProfileChange
			if err := decode(c, &b); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.ChangeCustomerProfile(c.Request.Context(), o, id, b)
		}},
		{http.MethodPost, "/customers/:id/level", httpx.CustomerChangeLevel, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := pathID(c, "id", "customer")
			if err != nil {
				return commands.Result{}, err
			}
			var b levelBody
			var f fields
			if err := decode(c, &b); err != nil {
				return commands.Result{}, err
			}
			v := f.requiredInt("level", b.Level)
			if err := f.err(); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.ChangeCustomerLevel(c.Request.Context(), o, id, v)
		}},
		{http.MethodPost, "/customers/:id/credit", httpx.CustomerRateCredit, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := pathID(c, "id", "customer")
			if err != nil {
				return commands.Result{}, err
			}
			var b creditBody
			var f fields
			if err := decode(c, &b); err != nil {
				return commands.Result{}, err
			}
			v := f.requiredInt("credit", b.Credit)
			if err := f.err(); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.RateCustomerCredit(c.Request.Context(), o, id, v)
		}},
		{http.MethodPost, "/customers/:id/satisfaction", httpx.CustomerRateSatisfaction, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := pathID(c, "id", "customer")
			if err != nil {
				return commands.Result{}, err
			}
			var b satisfactionBody
			var f fields
			if err := decode(c, &b); err != nil {
				return commands.Result{}, err
			}
			v := f.requiredInt("satisfaction", b.Satisfaction)
			if err := f.err(); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.RateCustomerSatisfaction(c.Request.Context(), o, id, v)
		}},
		{http.MethodPost, "/customers/:id/owner", httpx.CustomerAssignOwner, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, v, err := idText(c, customerID, "ownerId", func(b ownerBody) *string { return b.OwnerID })
			if err != nil {
				return commands.Result{}, err
			}
			return a.cmd.AssignCustomerOwner(c.Request.Context(), o, id, v)
		}},
		{http.MethodPost, "/customers/:id/contacts", httpx.CustomerAddContact, http.StatusCreated, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := pathID(c, "id", "customer")
			if err != nil {
				return commands.Result{}, err
			}
			var b contactBody
			if err := decode(c, &b); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.AddContact(c.Request.Context(), o, id, b.ID, b.Contact)
		}},
		{http.MethodPatch, "/customers/:id/contacts/:contactId", httpx.CustomerChangeContact, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := pathID(c, "id", "customer")
			if err != nil {
				return commands.Result{}, err
			}
			cid, err := pathID(c, "contactId", "contact")
			if err != nil {
				return commands.Result{}, err
			}
			var b domain.ContactChange
			if err := decode(c, &b); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.ChangeContact(c.Request.Context(), o, id, cid, b)
		}},
		{http.MethodDelete, "/customers/:id/contacts/:contactId", httpx.CustomerRemoveContact, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := pathID(c, "id", "customer")
			if err != nil {
				return commands.Result{}, err
			}
			cid, err := pathID(c, "contactId", "contact")
			if err != nil {
				return commands.Result{}, err
			}
			var b struct{}
			if err := decode(c, &b); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.RemoveContact(c.Request.Context(), o, id, cid)
		}},
		{http.MethodPost, "/customers/:id/interactions", httpx.CustomerLogInteraction, http.StatusCreated, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := pathID(c, "id", "customer")
			if err != nil {
				return commands.Result{}, err
			}
			var b interactionBody
			if err := decode(c, &b); err != nil {
				return commands.Result{}, err
			}
			var f fields
			in := domain.Interaction{
				Channel: f.requiredText("channel", b.Channel),
				Summary: f.requiredText("summary", b.Summary),
				Detail:  text(b.Detail),
				Place:   text(b.Place),
			}
			in.OccurredAt = f.time("occurredAt", b.OccurredAt, true)
			in.ContactID = f.uuid("contactId", b.ContactID, false)
			if err := f.err(); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.LogInteraction(c.Request.Context(), o, id, b.ID, in)
		}},
		{http.MethodPost, "/customers/:id/churn/defer", httpx.CustomerDeferChurn, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, v, err := idText(c, customerID, "measure", func(b measureBody) *string { return b.Measure })
			if err != nil {
				return commands.Result{}, err
			}
			return a.cmd.DeferChurn(c.Request.Context(), o, id, v)
		}},
		{http.MethodPost, "/customers/:id/churn/confirm", httpx.CustomerConfirmChurn, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, v, err := idText(c, customerID, "reason", func(b reasonBody) *string { return b.Reason })
			if err != nil {
				return commands.Result{}, err
			}
			return a.cmd.ConfirmChurn(c.Request.Context(), o, id, v)
		}},
		{http.MethodPost, "/customers/:id/reactivate", httpx.CustomerReactivate, http.StatusOK, func(c *gin.Context, o commands.Options) (commands.Result, error) {
			id, err := pathID(c, "id", "customer")
			if err != nil {
				return commands.Result{}, err
			}
			var b reasonBody
			if err := decode(c, &b); err != nil {
				return commands.Result{}, err
			}
			return a.cmd.ReactivateCustomer(c.Request.Context(), o, id, text(b.Reason))
		}},
	}
}
