/* PLACEHOLDER: replaced by the x86 first-stage format. */
