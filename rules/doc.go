// Package rules decides what happens to each returned item: it loads the partners, catalog and
// sales files (docs/contract.md §6), checks every field of an item (docs/contract.md §1, §4, §7), works out the warranty
// and routes the item by brand (docs/contract.md §5).
//
// Evaluation is pure: an Engine holds the configuration and the loaded data, and
// Evaluate(submission, now) only computes. Loading files is separate (LoadData), so a SIGHUP
// reload can build new Data and swap it in with SetData while other goroutines keep evaluating.
package rules
