package churn

import (
	"context"
	"fmt"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/eventcodec"
)

// Replay reads $all from r, from the start, and adds every event the churn
// model reads (Relevant) to ev at its business time: the metadata's
// occurredAt, else the recording time. Events are decoded with the
// domain's codec table, as the projections decode them. progress, when not
// nil, is told the $all position reached after each page. It is the replay
// of "crm churn evaluate"; an event that does not decode is an error, not
// skipped.
func Replay(ctx context.Context, r eventstore.AllReader, ev *Evaluator, progress func(position uint64)) error {
	codec := eventcodec.New()
	var after eventstore.Checkpoint
	for {
		page, err := r.ReadAll(ctx, after, 4096)
		if err != nil {
			return fmt.Errorf("read $all: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		for _, rec := range page {
			after = rec.Checkpoint()
			if rec.IsSystem() || !Relevant(rec.Type) {
				continue
			}
			v, err := codec.DecodeRecorded(rec)
			if err != nil {
				return fmt.Errorf("decode %s@%d (%s): %w", rec.Stream, rec.Revision, rec.Type, err)
			}
			e, ok := v.(domain.Event)
			if !ok {
				return fmt.Errorf("decode %s@%d (%s): a %T is not a domain event", rec.Stream, rec.Revision, rec.Type, v)
			}
			at := rec.Metadata.OccurredAt
			if at.IsZero() {
				at = rec.RecordedAt
			}
			ev.Add(e, at)
		}
		if progress != nil {
			progress(after.Commit)
		}
	}
}
