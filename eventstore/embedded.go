package eventstore

import (
	"log/slog"

	"github.com/crm-es/crm/eventstore/server"
)

// startEmbedded starts the in-process KurrentDB-compatible server on a free
// loopback port. server.Start returns only once the listener accepts
// connections, so the client's first call (node discovery, which kills the
// client for good if it fails) finds it listening.
func startEmbedded(dir string, logger *slog.Logger) (embeddedServer, error) {
	return server.Start(server.Config{Dir: dir, Logger: logger}, "127.0.0.1:0")
}
