package readapi_test

import (
	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
)

func esdbAny() esdb.AppendToStreamOptions {
	return esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}
}

func esdbEvent(id uuid.UUID, typ string, data, meta []byte) esdb.EventData {
	return esdb.EventData{EventID: id, EventType: typ, ContentType: esdb.ContentTypeJson, Data: data, Metadata: meta}
}
