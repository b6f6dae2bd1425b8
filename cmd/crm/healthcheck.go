package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// runHealthcheck is "crm healthcheck": GET a health URL and exit 0 on a 2xx
// answer, 1 otherwise. Container images without a shell or curl use it as
// their health check.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	var (
		target  string
		timeout time.Duration
	)
	fs := flag.NewFlagSet("crm healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&target, "url", "", "`URL` to probe (default: http://CRM_HTTP_ADDR/readyz, loopback for an unspecified host)")
	fs.DurationVar(&timeout, "timeout", 3*time.Second, "request timeout")
	err := parseFlags(fs, args)
	if err == nil && target == "" {
		target, err = readyzURL(envOr(getenv, "CRM_HTTP_ADDR", defaultHTTPAddr))
	}
	if code, done := configExit("crm healthcheck", err, stderr); done {
		return code
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		fmt.Fprintf(stderr, "crm healthcheck: %v\n", err)
		return exitUsage
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "crm healthcheck: %v\n", err)
		return exitFailure
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(stderr, "crm healthcheck: %s: %s\n%s\n", target, resp.Status, body)
		return exitFailure
	}
	return exitOK
}

// readyzURL turns a listen address into the URL of its /readyz endpoint.
func readyzURL(listenAddr string) (string, error) {
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return "", errors.New("CRM_HTTP_ADDR: " + unwrapAddrError(err).Error())
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}
