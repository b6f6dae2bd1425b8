// Package server is the embedded event store: a gRPC server that speaks the
// KurrentDB (EventStoreDB) client protocol, so the official Go client — and
// any other KurrentDB client — works against it exactly as against a real
// single node in insecure mode. Storage is package store.
//
// It implements ServerFeatures, Gossip and Streams (Read, Append, Delete,
// Tombstone) as described in ../shared/reference/kurrentdb-protocol.md.
// Persistent subscriptions, projections, users and BatchAppend are not
// offered and not advertised.
//
// It imports the standard library, grpc, the client module's generated
// protocol packages, google/uuid and package store; never CRM packages.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/crm-es/crm/eventstore/server/store"
)

// Version is the KurrentDB version the server reports; the client gates
// behaviour on it, so it must be plain dotted integers.
const Version = "24.10.0"

// DefaultMaxAppendSize is KurrentDB's default maximum append size.
const DefaultMaxAppendSize = 1 << 20

// Config configures a Server.
type Config struct {
	Dir           string       // data directory, created if missing
	Logger        *slog.Logger // nil: discard
	MaxAppendSize int          // max sum of event data bytes per append; 0: 1 MiB
}

// Server is an embedded event store node.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	grpc  *grpc.Server
	id    uuid.UUID

	quit chan struct{} // closed when Close starts: live subscriptions end

	mu     sync.Mutex
	addr   string
	closed bool
}

// Open opens (and recovers) the storage in cfg.Dir and prepares the gRPC
// services. A damaged data directory returns an error naming the file.
func Open(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("event store: data directory is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxAppendSize <= 0 {
		cfg.MaxAppendSize = DefaultMaxAppendSize
	}
	st, err := store.Open(cfg.Dir, store.Options{Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, store: st, id: uuid.New(), quit: make(chan struct{})}
	s.grpc = grpc.NewServer(
		// The client pings every 10 s; grpc-go's default policy would
		// answer with GOAWAY too_many_pings and drop idle subscriptions.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// Big appends must reach the append-size check, not a transport limit.
		grpc.MaxRecvMsgSize(64<<20),
		grpc.ForceServerCodecV2(newCodec()),
	)
	streams.RegisterStreamsServer(s.grpc, &streamsService{srv: s})
	serverfeatures.RegisterServerFeaturesServer(s.grpc, &featuresService{})
	gossip.RegisterGossipServer(s.grpc, &gossipService{srv: s})
	return s, nil
}

// Start opens the server and serves on addr (e.g. "127.0.0.1:0") in the
// background. It returns once the listener accepts connections.
func Start(cfg Config, addr string) (*Server, error) {
	s, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		s.store.Close()
		return nil, fmt.Errorf("event store: listen on %s: %w", addr, err)
	}
	s.setAddr(l.Addr())
	go func() {
		if err := s.grpc.Serve(l); err != nil {
			s.log.Error("event store: serve", "err", err)
		}
	}()
	return s, nil
}

// Serve serves gRPC on l until Close. It blocks.
func (s *Server) Serve(l net.Listener) error {
	s.setAddr(l.Addr())
	return s.grpc.Serve(l)
}

func (s *Server) setAddr(a net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addr = a.String()
	if ta, ok := a.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
	}
}

// Addr is the host:port clients dial.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// ConnectionString is the esdb:// connection string for this node.
func (s *Server) ConnectionString() string {
	return "esdb://" + s.Addr() + "?tls=false"
}

// Store exposes the storage engine (for benchmarks and tools).
func (s *Server) Store() *store.Store { return s.store }

// Close stops serving (open calls get a few seconds to finish; live
// subscriptions end) and closes the storage.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.grpc.Stop()
		<-done
	}
	return s.store.Close()
}

type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

func (featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	const svc = "event_store.client.streams.streams"
	m := func(service, method string, features ...string) *serverfeatures.SupportedMethod {
		return &serverfeatures.SupportedMethod{ServiceName: service, MethodName: method, Features: features}
	}
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: Version,
		Methods: []*serverfeatures.SupportedMethod{
			m(svc, "read", "position", "events"),
			m(svc, "append"),
			m(svc, "delete"),
			m(svc, "tombstone"),
			m("event_store.client.server_features.serverfeatures", "getsupportedmethods"),
			m("event_store.client.gossip.gossip", "read"),
		},
	}, nil
}

type gossipService struct {
	gossip.UnimplementedGossipServer
	srv *Server
}

func (g *gossipService) Read(ctx context.Context, _ *shared.Empty) (*gossip.ClusterInfo, error) {
	host, portStr, err := net.SplitHostPort(g.srv.Addr())
	if err != nil {
		return nil, err
	}
	port, _ := strconv.Atoi(portStr)
	return &gossip.ClusterInfo{Members: []*gossip.MemberInfo{{
		InstanceId:   protoUUID(g.srv.id),
		TimeStamp:    time.Now().UnixNano() / 100,
		State:        gossip.MemberInfo_Leader,
		IsAlive:      true,
		HttpEndPoint: &gossip.EndPoint{Address: host, Port: uint32(port)},
	}}}, nil
}
