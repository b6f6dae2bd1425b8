package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/internal/httpx"
	"github.com/crm-es/crm/writeapi"
	"github.com/gin-gonic/gin"
)

// loadAPIKeys loads the API keys: from CRM_API_KEYS_FILE when set (it must
// exist), else from DATA/api-keys, which is created on first start with one
// random admin key. That key is printed once, on stderr, and never logged.
//
// CRM_API_KEYS, when set, holds the keys themselves (same format, lines
// separated by ';' or newlines) and no file is read or created.
func loadAPIKeys(cfg serveConfig, logger *slog.Logger, stderr io.Writer) (*httpx.Keys, error) {
	if strings.TrimSpace(cfg.apiKeys) != "" {
		keys, err := httpx.ParseKeys(strings.NewReader(strings.ReplaceAll(cfg.apiKeys, ";", "\n")), "CRM_API_KEYS")
		if err != nil {
			return nil, err
		}
		logger.Info("API keys loaded", "from", "CRM_API_KEYS", "keys", keys.Len())
		return keys, nil
	}
	path := cfg.apiKeysFile
	if path == "" {
		p, newKey, err := httpx.EnsureDefaultKeysFile(cfg.dataDir)
		if err != nil {
			return nil, err
		}
		path = p
		if newKey != "" {
			fmt.Fprintf(stderr, "\ncrm: created %s with a new admin API key; it is shown only this once:\n\n    %s\n\n"+
				"crm: use it as \"Authorization: Bearer <key>\"; add more keys to that file (see README, Roles).\n\n", p, newKey)
			logger.Info("created the API keys file with one admin key (printed on stderr)", "path", p)
		}
	}
	keys, err := httpx.LoadKeysFile(path)
	if err != nil {
		return nil, err
	}
	logger.Info("API keys loaded", "path", path, "keys", keys.Len())
	return keys, nil
}

// mountCommandAPI mounts the command endpoints under /v1, behind API-key
// authentication.
func mountCommandAPI(keys *httpx.Keys, cmds *commands.Handlers, logger *slog.Logger) func(*gin.Engine) {
	return func(r *gin.Engine) {
		v1 := r.Group("/v1", httpx.Authenticate(keys))
		writeapi.Register(v1, writeapi.Config{Commands: cmds, Logger: logger})
	}
}
