"""The engine: what a model's run costs. Formulas by op family, the one registry of formulas and
its hookspecs, the counter (a TorchDispatchMode plus module hooks), parameter counts and the
Profile. Never imports pytest; this package's own import is empty, so importing
`engine.profile` (plain data) never pulls in torch."""
