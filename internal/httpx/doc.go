// Package httpx holds the HTTP plumbing shared by the API packages:
// RFC 7807 problem+json answers, StatusOf (the one mapping of a
// domain.Kind to an HTTP status), API-key authentication (the keys file,
// its embedded default and the Gin middleware), and the roles with the
// role matrix that decides who may run which command.
//
// Import rule: domain and the standard library plus Gin; never commands,
// projections, readapi or cmd, and it reads no flags or environment
// variables (cmd passes it the keys file's path).
package httpx
