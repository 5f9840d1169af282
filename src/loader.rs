//! Loading a rule set from disk: reads the rules and transforms directories and hands their
//! text to the pure compiler in switchboard-core (filled in by the routing-language issue).
