int usva_as_placeholder;
