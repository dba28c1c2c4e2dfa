// Package all links every processor into a binary: the manager imports it to
// validate settings, the worker to run them.
package all

import (
	// Register the processors.
	_ "github.com/eventpipe/eventpipe/workers/processors/passthrough"
)
