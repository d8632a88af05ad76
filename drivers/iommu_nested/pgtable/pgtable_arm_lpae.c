/* PLACEHOLDER: replaced by the ARM LPAE format. */
