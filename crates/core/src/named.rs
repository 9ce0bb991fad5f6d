//! Fieldless enums stored and sent by name: one macro gives each its `ALL`, `name`,
//! `parse`, `Display` and comparison with the stored text.

/// Names and parses a fieldless enum by its stored name.
macro_rules! named {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            pub fn parse(text: &str) -> Option<$ty> {
                $ty::ALL.iter().copied().find(|v| v.name() == text)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        /// Compares with the stored name (`run.trigger == "schedule"`).
        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.name() == *other
            }
        }
    };
}

pub(crate) use named;
