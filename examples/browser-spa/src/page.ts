/**
 * What both pages of the example share: writing to an element, and an error as the page shows it
 * (its tag and message; never a token, which no error of the library quotes).
 */
export const show = (id: string, text: string) => {
  document.getElementById(id)!.textContent = text
}

export const describeError = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
    ? `${(error as { readonly _tag?: string })._tag ?? "Error"}: ${error.message}`
    : String(error)
