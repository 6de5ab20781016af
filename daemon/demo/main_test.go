package demo_test

import (
	"testing"

	"github.com/rmad/rmad/internal/testenv"
)

// TestMain fails the run when a panic was recovered that no test caused on purpose.
func TestMain(m *testing.M) { testenv.Main(m) }
