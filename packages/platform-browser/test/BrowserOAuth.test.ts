import { BrowserOAuth } from "@effect-oauth/platform-browser"
import { httpClientLayerContract } from "../../core/test/HttpClientLayerContract.js"

httpClientLayerContract("BrowserOAuth.layerHttpClient", BrowserOAuth.layerHttpClient)
